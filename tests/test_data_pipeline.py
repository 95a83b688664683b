"""The tf.data pipelines: the authors' TFRecords, eval padding, training
augmentation, determinism and per-replica sharding."""

import numpy as np
import pytest
import tensorflow as tf

from deeplab_tf.data.input_pipeline import (build_eval_dataset,
                                            build_train_dataset)
from deeplab_tf.data.synthetic import write_synthetic_dataset

TF1_SPLIT = "val"  # pascal_voc_seg_val-00000-of-00001.tfrecord


@pytest.fixture(scope="module")
def synthetic_dir(tmp_path_factory):
  path = tmp_path_factory.mktemp("synthetic")
  write_synthetic_dataset(str(path), num_train=6, num_val=3,
                          image_size=(40, 56), num_shards=3)
  return str(path)


def test_authors_tfrecord_eval_equals_reference_reader(data_dir):
  tf1 = data_dir / "tf1_tfrecord"
  reference = np.load(tf1 / "pascal_voc_seg_val_data_generator_eval.npz")
  batches = list(build_eval_dataset(str(tf1), TF1_SPLIT, crop_size=(513, 513),
                                    batch_size=1, ignore_label=255,
                                    mean_pixel=127.5))
  assert len(batches) == 3
  for i, batch in enumerate(batches):
    key = "xception_65__example%d__" % i
    assert batch["filename"][0].numpy().decode() == reference[
        key + "image_name"][0]
    assert batch["height"][0] == reference[key + "height"][0]
    assert batch["width"][0] == reference[key + "width"][0]
    np.testing.assert_array_equal(batch["image"].numpy(),
                                  reference[key + "image"])
    np.testing.assert_array_equal(batch["label"].numpy(),
                                  reference[key + "label"][..., 0])
    h, w = reference[key + "height"][0], reference[key + "width"][0]
    np.testing.assert_array_equal(batch["image"][0, :h, :w].numpy(),
                                  reference[key + "original_image"][0])
    assert (batch["image"][0, h:].numpy() == 127.5).all()  # both paddings
    assert (batch["label"][0, :, w:].numpy() == 255).all()


def test_eval_batches_pad_to_largest_with_per_channel_mean(data_dir):
  mean = (123.15, 115.90, 103.06)
  batch = next(iter(build_eval_dataset(
      str(data_dir / "tf1_tfrecord"), TF1_SPLIT, crop_size=(300, 300),
      batch_size=3, ignore_label=255, mean_pixel=mean)))
  assert batch["image"].shape == (3, 366, 500, 3)
  assert batch["label"].dtype == tf.int32
  np.testing.assert_array_equal(batch["height"].numpy(), [366, 335, 333])
  second = batch["image"][1].numpy()
  np.testing.assert_array_equal(second[335:], np.broadcast_to(
      np.float32(mean), second[335:].shape))
  assert (batch["label"][1, 335:].numpy() == 255).all()


def test_train_shapes_ranges_and_padding(synthetic_dir):
  dataset = build_train_dataset(
      synthetic_dir, "train", crop_size=(65, 81), batch_size=4,
      ignore_label=255, mean_pixel=127.5, seed=3)
  for batch in dataset.take(3):
    image, label = batch["image"].numpy(), batch["label"].numpy()
    assert image.shape == (4, 65, 81, 3) and image.dtype == np.float32
    assert label.shape == (4, 65, 81) and label.dtype == np.int32
    assert image.min() >= 0.0 and image.max() <= 255.0
    assert set(np.unique(label)) <= {0, 1, 2, 3, 4, 255}
    # Where the image is padding (mean pixel everywhere), so is the label.
    is_mean = (image == 127.5).all(axis=-1)
    assert (label[is_mean] == 255).mean() > 0.99


def test_train_padding_values_without_scaling(synthetic_dir):
  batch = next(iter(build_train_dataset(
      synthetic_dir, "train", crop_size=(50, 60), batch_size=2,
      ignore_label=0, mean_pixel=(10.0, 20.0, 30.0), min_scale_factor=1.0,
      max_scale_factor=1.0, seed=0)))
  # 40 x 56 images in a 50 x 60 crop: rows 40.. are padding.
  image, label = batch["image"].numpy(), batch["label"].numpy()
  np.testing.assert_array_equal(image[:, 40:], np.broadcast_to(
      np.float32([10, 20, 30]), image[:, 40:].shape))
  assert (label[:, 40:] == 0).all()  # ADE20K-style ignore label 0


def test_train_is_deterministic_with_a_seed(synthetic_dir):
  def first_batches(seed):
    dataset = build_train_dataset(
        synthetic_dir, "train", crop_size=(33, 33), batch_size=3,
        ignore_label=255, mean_pixel=127.5, seed=seed)
    return [b["image"].numpy() for b in dataset.take(3)]
  a, b, c = first_batches(7), first_batches(7), first_batches(8)
  for x, y in zip(a, b):
    np.testing.assert_array_equal(x, y)
  assert any(not np.array_equal(x, z) for x, z in zip(a, c))


def test_train_scales_follow_the_grid(synthetic_dir):
  from deeplab_tf.data.preprocessing import random_scale_factor  # pylint: disable=g-import-not-at-top
  scales = {float(random_scale_factor(tf.constant([i, 1]), 0.5, 2.0, 0.25))
            for i in range(200)}
  assert scales == {0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0}


def test_flip_keeps_image_and_label_aligned(synthetic_dir):
  """With scale 1 and a crop equal to the image, every output is the image
  or its mirror, and the label follows."""
  eval_batch = next(iter(build_eval_dataset(
      synthetic_dir, "train", crop_size=(40, 56), batch_size=6,
      ignore_label=255, mean_pixel=127.5)))
  originals = [(eval_batch["image"][i].numpy(), eval_batch["label"][i].numpy())
               for i in range(6)]
  batch = next(iter(build_train_dataset(
      synthetic_dir, "train", crop_size=(40, 56), batch_size=6,
      ignore_label=255, mean_pixel=127.5, min_scale_factor=1.0,
      max_scale_factor=1.0, seed=1, repeat=False)))
  flips = 0
  for image, label in zip(batch["image"].numpy(), batch["label"].numpy()):
    match = [(np.array_equal(image, im), np.array_equal(image, im[:, ::-1]),
              lb) for im, lb in originals]
    same = [lb for eq, _, lb in match if eq]
    mirrored = [lb for _, eq, lb in match if eq]
    if same:
      np.testing.assert_array_equal(label, same[0])
    else:
      np.testing.assert_array_equal(label, mirrored[0][:, ::-1])
      flips += 1
  assert 0 < flips < 6


def test_resize_to_range(synthetic_dir):
  batch = next(iter(build_train_dataset(
      synthetic_dir, "train", crop_size=(30, 30), batch_size=1,
      ignore_label=255, mean_pixel=127.5, min_scale_factor=1.0,
      max_scale_factor=1.0, min_resize_value=20, max_resize_value=20,
      seed=0)))
  # 40 x 56 -> long side 20 -> 15 x 20, padded to 30 x 30.
  label = batch["label"][0].numpy()
  assert (label[15:] == 255).all() and (label[:, 20:] == 255).all()
  assert (label[:15, :20] != 255).mean() > 0.5


def test_per_replica_sharding(synthetic_dir):
  def filenames(pipeline_id, num_pipelines, split="val"):
    context = tf.distribute.InputContext(
        num_input_pipelines=num_pipelines, input_pipeline_id=pipeline_id,
        num_replicas_in_sync=num_pipelines)
    dataset = build_eval_dataset(synthetic_dir, split, crop_size=(8, 8),
                                 batch_size=num_pipelines, ignore_label=255,
                                 mean_pixel=127.5, input_context=context)
    return [f.decode() for b in dataset for f in b["filename"].numpy()]
  # By file: 3 val shards over 3 pipelines, one record each, disjoint.
  shards = [filenames(i, 3) for i in range(3)]
  assert sorted(sum(shards, [])) == ["val_00000", "val_00001", "val_00002"]
  assert all(len(s) == 1 for s in shards)
  # By record when there are fewer files than pipelines (3 files, 4).
  shards = [filenames(i, 4, "train") for i in range(4)]
  assert sorted(sum(shards, [])) == ["train_%05d" % i for i in range(6)]
  # Global batch 4 over 4 replicas -> one example per replica batch.
  context = tf.distribute.InputContext(4, 0, 4)
  batch = next(iter(build_train_dataset(
      synthetic_dir, "train", crop_size=(8, 8), batch_size=4,
      ignore_label=255, mean_pixel=127.5, seed=0, input_context=context)))
  assert batch["image"].shape[0] == 1


def test_distribute_strategy_with_dataset_function(synthetic_dir):
  strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
  dataset = strategy.distribute_datasets_from_function(
      lambda ctx: build_train_dataset(
          synthetic_dir, "train", crop_size=(16, 16), batch_size=2,
          ignore_label=255, mean_pixel=127.5, seed=0, input_context=ctx))
  batch = next(iter(dataset))
  assert batch["image"].shape == (2, 16, 16, 3)


def test_cache_gives_the_same_examples(synthetic_dir):
  kwargs = dict(crop_size=(24, 24), batch_size=2, ignore_label=255,
                mean_pixel=127.5, seed=5)
  # One epoch: with `repeat` the shuffle buffer spans epochs, and only the
  # uncached files are reshuffled for the second one.
  plain = build_train_dataset(synthetic_dir, "train", repeat=False, **kwargs)
  cached = build_train_dataset(synthetic_dir, "train", cache=True,
                               repeat=False, **kwargs)
  for a, b in zip(plain.take(3), cached.take(3)):
    np.testing.assert_array_equal(a["image"].numpy(), b["image"].numpy())
    np.testing.assert_array_equal(a["label"].numpy(), b["label"].numpy())


def test_multi_worker_auto_sharding_is_by_file(synthetic_dir):
  """What MultiWorkerMirroredStrategy's AUTO policy does to our dataset."""
  try:
    from tensorflow.python.data.experimental.ops.distribute import _AutoShardDataset  # pylint: disable=g-import-not-at-top
  except ImportError:
    pytest.skip("tf.data auto-shard internals moved")
  dataset = build_eval_dataset(synthetic_dir, "val", crop_size=(8, 8),
                               batch_size=1, ignore_label=255,
                               mean_pixel=127.5)
  options = tf.data.Options()
  options.experimental_distribute.auto_shard_policy = (
      tf.data.experimental.AutoShardPolicy.FILE)
  dataset = dataset.with_options(options)
  seen = []
  for worker in range(3):
    names = [b["filename"][0].numpy().decode()
             for b in _AutoShardDataset(dataset, 3, worker)]
    assert len(names) == 1  # one whole file (one record) per worker
    seen += names
  assert sorted(seen) == ["val_00000", "val_00001", "val_00002"]
