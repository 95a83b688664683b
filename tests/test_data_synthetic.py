"""The synthetic dataset: deterministic, structured, readable."""

import numpy as np

from deeplab_tf.data import get_dataset_descriptor
from deeplab_tf.data.input_pipeline import build_eval_dataset
from deeplab_tf.data.synthetic import (SyntheticExample, render,
                                       write_synthetic_dataset)
from deeplab_tf.data.validation import validate_split


def test_render_is_deterministic_and_structured():
  a = render(SyntheticExample(0, "train", 1, 64, 64))
  b = render(SyntheticExample(0, "train", 1, 64, 64))
  c = render(SyntheticExample(1, "train", 1, 64, 64))
  np.testing.assert_array_equal(a[0], b[0])
  np.testing.assert_array_equal(a[1], b[1])
  assert not np.array_equal(a[0], c[0])
  labels = np.concatenate([render(SyntheticExample(0, "train", i, 64, 64))[1]
                           .ravel() for i in range(12)])
  values = set(np.unique(labels))
  assert values == {0, 1, 2, 3, 4, 255}  # every class and ignore regions
  assert 0.01 < (labels == 255).mean() < 0.3


def test_classes_are_separable_by_colour():
  """Per-class mean colours differ: a model has something to learn."""
  means = {k: [] for k in range(5)}
  for i in range(12):
    image, label = render(SyntheticExample(0, "train", i, 64, 64))
    for k in range(5):
      if (label == k).sum() > 20:
        means[k].append(image[label == k].mean(axis=0))
  centres = np.array([np.mean(means[k], axis=0) for k in range(1, 5)])
  gaps = np.linalg.norm(centres[:, None] - centres[None], axis=-1)
  assert gaps[np.triu_indices(4, 1)].min() > 40


def test_written_dataset_is_valid_and_self_describing(tmp_path):
  descriptor = write_synthetic_dataset(str(tmp_path), num_train=4, num_val=2,
                                       image_size=(24, 32), seed=3)
  assert descriptor.splits_to_sizes == {"train": 4, "val": 2}
  assert get_dataset_descriptor(str(tmp_path)).num_classes == 5
  for split in ("train", "val"):
    assert validate_split(str(tmp_path), split, descriptor).ok
  batch = next(iter(build_eval_dataset(str(tmp_path), "val", crop_size=(24, 32),
                                       batch_size=2, ignore_label=255,
                                       mean_pixel=127.5)))
  assert batch["image"].shape == (2, 24, 32, 3)
  assert [f.decode() for f in batch["filename"].numpy()] == ["val_00000",
                                                             "val_00001"]
  again = tmp_path / "again"
  write_synthetic_dataset(str(again), num_train=4, num_val=2,
                          image_size=(24, 32), seed=3)
  for name in ("train-00000-of-00002.tfrecord", "val-00001-of-00002.tfrecord"):
    assert (tmp_path / name).read_bytes() == (again / name).read_bytes()
