"""The evaluator: the run from the checkpoint, one confusion matrix at the
original label resolution, multi-scale + flip, output-stride override,
conflicting flags, continuous mode, visualisation and the eval.py CLI."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from deeplab_tf.data.input_pipeline import decode_example, list_split_files
from deeplab_tf.evaluation import evaluator, metrics
from deeplab_tf.evaluation.resolve import eval_run_from_checkpoint
from deeplab_tf.inference import predict_labels
from deeplab_tf.model import build_model
from deeplab_tf.run_config import restore_model
from deeplab_tf.training import loop
from tests.cli_helpers import assert_one_error, run_cli
from tests.helpers import tiny_options, tiny_run

SIZE = (50, 70)  # not square, smaller than the eval crop in one dimension


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  """A tiny model trained for a few steps on tiny synthetic TFRecords."""
  from deeplab_tf.data.synthetic import write_synthetic_dataset
  root = tmp_path_factory.mktemp("evalrun")
  data_dir = root / "data"
  descriptor = write_synthetic_dataset(str(data_dir), num_train=4, num_val=3,
                                       image_size=SIZE)
  from deeplab_tf.data.data_config import DataConfig
  data = DataConfig(descriptor=descriptor, dataset_dir=str(data_dir),
                    crop_size=(65, 65))
  loop.train(tiny_run(
      tiny_options(num_classes=5), data, train_batch_size=2,
      base_learning_rate=0.05, training_number_of_steps=6,
      train_logdir=str(root / "train"), save_interval_secs=1e9,
      batch_norm_decay=0.5, seed=0, log_steps=3))
  return root


def _independent_confusion(run, checkpoint):
  """Per image, outside the evaluator: decode, predict, score raw labels."""
  native = build_model(run.model, upsample_logits=False)
  restore_model(native, checkpoint)
  cm = np.zeros((5, 5), np.int64)
  files = list_split_files(run.data.dataset_dir, "val")
  for record in tf.data.TFRecordDataset(files):
    example = decode_example(record)
    image = tf.cast(example["image"], tf.float32)[tf.newaxis]
    labels = predict_labels(native, image, crop_size=run.eval.crop_size,
                            mean_pixel=run.model.mean_pixel,
                            scales=run.eval.eval_scales,
                            add_flipped_images=run.eval.add_flipped_images)
    assert labels.shape[1:] == SIZE
    cm += metrics.confusion_matrix_np(example["label"].numpy(),
                                      labels[0].numpy(), 5, 255)
  return cm


def test_single_pass_matches_independent_scoring(trained, tmp_path):
  config = eval_run_from_checkpoint(str(trained / "train"), str(tmp_path))
  assert config.model.num_classes == 5 and config.data.name == "synthetic"
  assert config.eval.crop_size == (65, 65)  # the training crop
  result = evaluator.run(config)
  saved = json.loads((tmp_path / "metrics.json").read_text())
  assert saved["miou"] == pytest.approx(result["miou"])
  assert saved["step"] == 6 and saved["num_images"] == 3
  assert [c["name"] for c in saved["per_class"]][:2] == ["background", "disc"]
  expected = _independent_confusion(config, str(trained / "train"))
  np.testing.assert_array_equal(np.array(saved["confusion_matrix"]), expected)
  assert expected.sum() == saved["num_pixels"]


def test_multiscale_flip_and_output_stride(trained, tmp_path):
  config = eval_run_from_checkpoint(
      str(trained / "train"), str(tmp_path), overrides={"output_stride": 8},
      eval_scales=(0.75, 1.25), add_flipped_images=True,
      trimap_widths=(1, 3))
  assert config.model.output_stride == 8
  result = evaluator.run(config)
  assert result["output_stride"] == 8
  assert result["eval_scales"] == [0.75, 1.25] and result["add_flipped_images"]
  expected = _independent_confusion(config, str(trained / "train"))
  np.testing.assert_array_equal(np.array(result["confusion_matrix"]),
                                expected)
  widths = [t["width"] for t in result["trimap"]]
  assert widths == [1, 3]
  assert 0 < result["trimap"][0]["num_pixels"] < result["trimap"][1][
      "num_pixels"] < result["num_pixels"]


def test_conflicting_model_flag_is_an_error(trained, tmp_path):
  with pytest.raises(ValueError, match="--model_variant='xception_65' "
                     "conflicts"):
    eval_run_from_checkpoint(str(trained / "train"), str(tmp_path),
                                model_flags={"model_variant": "xception_65"})
  # A flag that repeats the saved value is fine.
  eval_run_from_checkpoint(str(trained / "train"), str(tmp_path),
                              model_flags={"model_variant": "mobilenet_v2",
                                           "num_classes": 5})


def test_continuous_mode_and_visualisation(trained, tmp_path):
  config = eval_run_from_checkpoint(
      str(trained / "train"), str(tmp_path / "eval"),
      max_number_of_evaluations=0, eval_interval_secs=0,
      eval_timeout_secs=1, stop_at_step=6, vis_logdir=str(tmp_path / "vis"),
      also_save_raw_predictions=True)
  result = evaluator.run(config)
  assert result["step"] == 6
  files = sorted(os.listdir(tmp_path / "vis"))
  assert "val_00000_prediction.png" in files
  assert "val_00000_overlay.png" in files and "val_00000_label.png" in files
  from PIL import Image
  raw = np.array(Image.open(tmp_path / "vis" / "raw" / "val_00000.png"))
  assert raw.shape == SIZE and raw.max() < 5


def test_eval_cli_reads_config_and_rejects_conflicts(trained, tmp_path):
  base = ["--checkpoint_dir=%s" % (trained / "train"),
          "--eval_logdir=%s" % tmp_path]
  bad = run_cli("eval.py", *base, "--decoder_output_stride=none")
  assert_one_error(bad, "eval.py", 2, "--decoder_output_stride=None conflicts")
  other = run_cli("eval.py", *base, "--dataset=cityscapes")
  assert_one_error(other, "eval.py", 2,
                   "--dataset=cityscapes: the dataset comes from")
  good = run_cli("eval.py", *base, "--eval_scales=1.0,1.25",
                 "--vis_logdir=%s" % (tmp_path / "vis"), "--vis_max_images=1")
  assert good.returncode == 0, good.stderr[-3000:]
  assert "mIoU" in good.stdout
  assert "visualisations of 1 image(s) (*_image, *_prediction, *_overlay, " \
         "*_label.png) -> %s" % (tmp_path / "vis") in good.stdout
  assert len(list((tmp_path / "vis").glob("*_overlay.png"))) == 1
  assert json.loads((tmp_path / "metrics.json").read_text())[
      "eval_scales"] == [1.0, 1.25]
