"""A seeded run on the CPU is repeatable: the same seed gives the same
weights bit for bit (initialisation, data order, augmentation), which is
what makes the embedded default's README figure reproducible."""

import numpy as np

from deeplab_tf.data.synthetic import write_synthetic_dataset
from deeplab_tf.training import loop
from deeplab_tf.training.resolve import run_config_from_values


def _train(data_dir, logdir, seed):
  config = run_config_from_values(dict(
      dataset="synthetic", dataset_dir=str(data_dir), seed=seed,
      train_logdir=str(logdir), model_variant="mobilenet_v2",
      depth_multiplier=0.25, train_crop_size="65,65", train_batch_size=2,
      training_number_of_steps=3, log_steps=100, save_interval_secs=1e9))
  result = loop.train(config)
  return result.loss


def test_same_seed_same_run_on_cpu(tmp_path):
  data = tmp_path / "data"
  write_synthetic_dataset(str(data), num_train=6, num_val=2,
                          image_size=(64, 64), verbose=False)
  first = _train(data, tmp_path / "a", seed=0)
  again = _train(data, tmp_path / "b", seed=0)
  assert first == again  # bit for bit, not approximately
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  a = tf.train.load_checkpoint(str(tmp_path / "a"))
  b = tf.train.load_checkpoint(str(tmp_path / "b"))
  names = [n for n in a.get_variable_to_shape_map() if "model" in n]
  assert names
  for name in names:
    np.testing.assert_array_equal(a.get_tensor(name), b.get_tensor(name))
