"""train.py's flags -> RunConfig (model, data, train): the embedded
default, the paper defaults, errors, and a mixed-precision step."""

import keras
import numpy as np
import pytest

from deeplab_tf.training import defaults
from deeplab_tf.training.resolve import run_config_from_values
from tests.helpers import fixed_batches, random_batch, tiny_config


def test_no_flags_is_the_embedded_synthetic_run():
  run = run_config_from_values({})
  assert run.data.name == "synthetic"
  assert run.data.dataset_dir == defaults.SYNTHETIC_DATA_DIR
  assert run.data.crop_size == (129, 129)
  assert run.train.train_logdir == defaults.DEFAULT_TRAIN_LOGDIR
  assert run.model.model_variant == "mobilenet_v2"
  assert run.model.atrous_rates is None
  assert run.model.decoder_output_stride == 4
  assert run.data.num_classes == 5 and run.data.ignore_label == 255
  assert run.model.num_classes == 5
  assert run.train.batch_norm_decay == 0.99
  assert run.train.seed == 0  # reproducible: the README's figure
  assert run_config_from_values({"seed": 4}).train.seed == 4


def test_resolving_writes_nothing_and_training_writes_the_embedded_data(
    tmp_path, monkeypatch):
  """A configuration is resolved without side effects; the embedded run's
  synthetic data is written by the training itself, in its own place."""
  from deeplab_tf.data.input_pipeline import list_split_files  # pylint: disable=g-import-not-at-top
  from deeplab_tf.training import loop  # pylint: disable=g-import-not-at-top
  monkeypatch.chdir(tmp_path)
  monkeypatch.setattr(defaults, "SYNTHETIC_SIZES", {
      "num_train": 4, "num_val": 2, "image_size": (65, 65)})
  config = run_config_from_values({
      "training_number_of_steps": 1, "train_batch_size": 2,
      "train_crop_size": ["65", "65"]})
  assert list(tmp_path.iterdir()) == []
  result = loop.train(config)
  assert result.step == 1
  for split in ("train", "val"):
    assert list_split_files(defaults.SYNTHETIC_DATA_DIR, split)
  assert (tmp_path / defaults.DEFAULT_TRAIN_LOGDIR / "ckpt-1.index").exists()


def test_other_datasets_start_from_the_paper(tmp_path):
  run = run_config_from_values(
      {"dataset": "pascal_voc_seg", "dataset_dir": str(tmp_path)})
  m, config = run.model, run.train
  assert (m.model_variant, m.output_stride, m.atrous_rates,
          m.decoder_output_stride, run.data.crop_size) == (
              "xception_65", 16, (6, 12, 18), 4, (513, 513))
  assert (config.base_learning_rate, config.learning_policy,
          config.learning_power, config.momentum, config.weight_decay) == (
              0.007, "poly", 0.9, 0.9, 4e-5)
  augmentation = run.data.augmentation
  assert (augmentation.min_scale_factor, augmentation.max_scale_factor,
          augmentation.scale_factor_step_size) == (0.5, 2.0, 0.25)
  assert m.num_classes == 21 and config.batch_norm_decay is None
  os8 = run_config_from_values(
      {"dataset": "pascal_voc_seg", "dataset_dir": str(tmp_path),
       "output_stride": 8, "decoder_output_stride": ["none"],
       "train_crop_size": ["321", "321"], "num_classes": 23})
  assert os8.model.atrous_rates == (12, 24, 36)
  assert os8.model.decoder_output_stride is None
  assert os8.data.crop_size == (321, 321) and os8.model.num_classes == 23
  assert len(os8.data.class_names) == 23


@pytest.mark.parametrize("values,match", [
    ({"dataset": "pascal_voc_seg"}, "--dataset_dir is required"),
    ({"dataset": "nope", "dataset_dir": "/tmp"}, "--dataset=nope"),
    ({"label_weights": [1.0, 2.0]}, "--label_weights has 2 values"),
    ({"learning_policy": "exp"}, "--learning_policy='exp'"),
    ({"top_k_percent_pixels": 0.0}, "--top_k_percent_pixels"),
])
def test_errors_name_the_flag(values, match):
  with pytest.raises(ValueError, match=match):
    run_config_from_values(values)


def test_mixed_bfloat16_step(tmp_path):
  """The library honours config.mixed_precision itself (not the caller's
  global Keras policy) and leaves that global policy as it found it."""
  from deeplab_tf.training import loop
  from deeplab_tf.training.strategy import make_strategy
  assert keras.mixed_precision.global_policy().name == "float32"
  trainer = loop.Trainer(tiny_config(tmp_path, mixed_precision="bfloat16"),
                         make_strategy("one_device"))
  assert keras.mixed_precision.global_policy().name == "float32"
  assert trainer.policy == "mixed_bfloat16"
  assert trainer.model.get_layer("aspp0").compute_dtype == "bfloat16"
  images, labels = random_batch()
  out = trainer.train_step(next(iter(trainer.distribute(
      fixed_batches(images, labels)))))
  assert np.isfinite(float(out["loss"]))
  assert trainer.model.get_layer("logits.semantic").compute_dtype == (
      "float32")
  plain = loop.Trainer(tiny_config(tmp_path), make_strategy("one_device"))
  assert plain.model.get_layer("aspp0").compute_dtype == "float32"
