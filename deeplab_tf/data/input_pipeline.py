"""tf.data input pipelines over TFRecords in the reference schema.

Everything per example runs in TensorFlow ops (no Python), so the pipelines
parallelise and trace. Reads the authors' TFRecords unchanged.

Under `tf.distribute`, pass the `tf.distribute.InputContext` given to
`strategy.distribute_datasets_from_function`: files are sharded across input
pipelines (records when there are fewer files than pipelines) and
`batch_size` is the *global* batch, divided by the number of replicas. With
`strategy.experimental_distribute_dataset` (no input context) the dataset is
a file-reading dataset, so multi-worker auto-sharding works by file.
"""

import os
from typing import Optional, Tuple

import tensorflow as tf

from deeplab_tf import padding
from deeplab_tf.data import preprocessing
from deeplab_tf.data import tfrecord_schema as schema
from deeplab_tf.data.errors import DataError

AUTOTUNE = tf.data.AUTOTUNE


def list_split_files(dataset_dir: str, split: str):
  """The split's shard files; DataError naming the directory or split."""
  if not dataset_dir or not os.path.isdir(dataset_dir):
    raise DataError("dataset_dir %r does not exist or is not a directory"
                    % dataset_dir)
  files = schema.split_files(dataset_dir, split)
  if not files:
    found = schema.available_splits(dataset_dir)
    raise DataError(
        "no TFRecords for split %r in %s (expected %s-NNNNN-of-NNNNN.tfrecord"
        "; splits found there: %s)" % (split, dataset_dir, split,
                                       ", ".join(found) or "none"))
  return files


def decode_example(serialized):
  """Parses and decodes one serialized record.

  Returns:
    dict: "image" uint8 [H, W, 3], "label" uint8 [H, W], "height" and
    "width" int32 (of the decoded image), "filename" string.
  """
  features = tf.io.parse_single_example(serialized, schema.FEATURE_SPEC)
  filename = features[schema.IMAGE_FILENAME]
  # decode_image sniffs the content, so the 'png'-for-JPEG format quirk of
  # the reference ADE20K records does not matter.
  image = tf.io.decode_image(features[schema.IMAGE_ENCODED], channels=3,
                             dtype=tf.uint8, expand_animations=False)
  image = tf.ensure_shape(image, [None, None, 3])
  label = tf.io.decode_png(features[schema.LABEL_ENCODED], channels=1,
                           dtype=tf.uint8)[:, :, 0]
  return schema.checked_example(image, label, filename,
                                "image and label sizes differ in record ")



def _records(files, *, shuffle_files: bool, seed, input_context,
             deterministic: bool):
  """Serialized records of `files`, sharded per input pipeline."""
  dataset = tf.data.Dataset.from_tensor_slices(files)
  num_pipelines = input_context.num_input_pipelines if input_context else 1
  pipeline_id = input_context.input_pipeline_id if input_context else 0
  by_file = num_pipelines > 1 and len(files) >= num_pipelines
  if by_file:
    dataset = dataset.shard(num_pipelines, pipeline_id)
  if shuffle_files and len(files) > 1:
    dataset = dataset.shuffle(len(files), seed=seed)
  if len(files) > 1:
    dataset = dataset.interleave(
        tf.data.TFRecordDataset, cycle_length=min(len(files), 8),
        num_parallel_calls=AUTOTUNE, deterministic=deterministic)
  else:
    dataset = dataset.interleave(tf.data.TFRecordDataset)
  if num_pipelines > 1 and not by_file:
    dataset = dataset.shard(num_pipelines, pipeline_id)
  return dataset


def _split_reader(dataset_dir, split: str, *, shuffle_files: bool, seed,
                  input_context, deterministic: bool):
  """(dataset of undecoded examples, decode_fn) of a TFRecord directory or
  a `tfds_source.TfdsSource`; decode_fn gives `decode_example`'s dict."""
  if not isinstance(dataset_dir, str):  # a TfdsSource
    from deeplab_tf.data import tfds_source  # pylint: disable=g-import-not-at-top
    return tfds_source.read_split(dataset_dir, split,
                                  shuffle_files=shuffle_files, seed=seed,
                                  input_context=input_context)
  files = list_split_files(dataset_dir, split)
  return _records(files, shuffle_files=shuffle_files, seed=seed,
                  input_context=input_context,
                  deterministic=deterministic), decode_example


def _per_replica_batch(batch_size: int, input_context) -> int:
  if input_context is None:
    return batch_size
  return input_context.get_per_replica_batch_size(batch_size)


def build_train_dataset(dataset_dir: str, split: str, *,
                        crop_size: Tuple[int, int], batch_size: int,
                        ignore_label: int, mean_pixel,
                        min_scale_factor: float = 0.5,
                        max_scale_factor: float = 2.0,
                        scale_factor_step_size: float = 0.25,
                        min_resize_value: Optional[int] = None,
                        max_resize_value: Optional[int] = None,
                        seed: Optional[int] = None, input_context=None,
                        cache: bool = False, repeat: bool = True,
                        shuffle_buffer_size: int = 256,
                        drop_remainder: bool = True) -> tf.data.Dataset:
  """The training pipeline: decode, augment, shuffle, batch, prefetch.

  Args:
    dataset_dir: directory of `{split}-NNNNN-of-NNNNN.tfrecord` files, or
      a `tfds_source.TfdsSource` (TFDS split syntax, e.g. 'train[:90%]').
    split: split name.
    crop_size: (height, width) of the random crops.
    batch_size: global batch size (per replica when `input_context` is
      None, divided by the replica count otherwise).
    ignore_label: label padding value.
    mean_pixel: image padding value (scalar or per channel, 0..255 scale).
    min_scale_factor, max_scale_factor, scale_factor_step_size: random
      scale (the paper's 0.5, 2.0, 0.25); step 0 samples uniformly.
    min_resize_value, max_resize_value: optional resize to a range first.
    seed: makes the whole pipeline (order and augmentation) reproducible.
    input_context: `tf.distribute.InputContext` for per-replica sharding.
    cache: cache decoded examples in memory (small datasets).
    repeat: repeat forever.
    shuffle_buffer_size: examples in the shuffle buffer.
    drop_remainder: keep batch shapes static (needed for TPUs/XLA).
  Returns:
    Dataset of {"image": float32 [B, h, w, 3] in [0, 255],
                "label": int32 [B, h, w]}.
  """
  deterministic = seed is not None
  dataset, decode = _split_reader(
      dataset_dir, split, shuffle_files=True, seed=seed,
      input_context=input_context, deterministic=deterministic)
  if cache:
    dataset = dataset.map(decode, num_parallel_calls=AUTOTUNE,
                          deterministic=deterministic).cache()
  if repeat:
    dataset = dataset.repeat()
  dataset = dataset.shuffle(shuffle_buffer_size, seed=seed)
  if not cache:
    dataset = dataset.map(decode, num_parallel_calls=AUTOTUNE,
                          deterministic=deterministic)
  seeds = tf.data.Dataset.random(seed=seed).batch(2, drop_remainder=True)
  crop_size = (int(crop_size[0]), int(crop_size[1]))

  def augment(example, example_seed):
    image, label = preprocessing.preprocess_for_train(
        example["image"], example["label"], example_seed,
        crop_size=crop_size, ignore_label=ignore_label,
        mean_pixel=mean_pixel, min_scale_factor=min_scale_factor,
        max_scale_factor=max_scale_factor,
        scale_factor_step_size=scale_factor_step_size,
        min_resize_value=min_resize_value, max_resize_value=max_resize_value)
    return {"image": image, "label": label}

  dataset = tf.data.Dataset.zip((dataset, seeds))
  dataset = dataset.map(augment, num_parallel_calls=AUTOTUNE,
                        deterministic=deterministic)
  dataset = dataset.batch(_per_replica_batch(batch_size, input_context),
                          drop_remainder=drop_remainder)
  dataset = dataset.prefetch(AUTOTUNE)
  options = tf.data.Options()
  options.deterministic = deterministic
  return dataset.with_options(options)


def build_eval_dataset(dataset_dir: str, split: str, *,
                       crop_size: Tuple[int, int], batch_size: int,
                       ignore_label: int, mean_pixel,
                       input_context=None) -> tf.data.Dataset:
  """The evaluation pipeline: one ordered pass, padding only.

  Images are padded bottom/right with the mean pixel to at least
  `crop_size` (and to the largest image of the batch), labels likewise with
  the ignore label; labels stay at their original resolution, and the
  original size comes along so predictions can be cropped back.

  Returns:
    Dataset of {"image": float32 [B, Hp, Wp, 3], "label": int32 [B, Hp, Wp],
                "height": int32 [B], "width": int32 [B], "filename": [B]}.
  """
  dataset, decode = _split_reader(
      dataset_dir, split, shuffle_files=False, seed=None,
      input_context=input_context, deterministic=True)
  crop_size = (int(crop_size[0]), int(crop_size[1]))

  def pad(example):
    image, label = padding.pad_for_eval(
        example["image"], example["label"], crop_size, ignore_label)
    return {"image": image, "label": label, "height": example["height"],
            "width": example["width"], "filename": example["filename"]}

  def fill(batch):
    batch = dict(batch)
    batch["image"] = padding.fill_image_padding(
        batch["image"], batch["height"], batch["width"], mean_pixel)
    return batch

  dataset = dataset.map(lambda s: pad(decode(s)),
                        num_parallel_calls=AUTOTUNE, deterministic=True)
  dataset = dataset.padded_batch(
      _per_replica_batch(batch_size, input_context),
      padding_values={"image": tf.constant(0, tf.uint8),
                      "label": tf.constant(ignore_label, tf.int32),
                      "height": 0, "width": 0, "filename": ""})
  dataset = dataset.map(fill, num_parallel_calls=AUTOTUNE)
  return dataset.prefetch(AUTOTUNE)
