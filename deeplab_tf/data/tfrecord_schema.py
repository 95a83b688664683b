"""The reference's TFRecord schema, shared by every builder and the reader.

Keys and value conventions are those of the authors' `build_data.py` /
`data_generator.py`, so their TFRecords and ours are interchangeable:
the image is stored as the bytes of the original JPEG/PNG file, the label as
a single-channel PNG of raw class ids, files are named
`{split}-NNNNN-of-NNNNN.tfrecord`.
"""

import glob
import os
import re

import tensorflow as tf

IMAGE_ENCODED = "image/encoded"
IMAGE_FILENAME = "image/filename"
IMAGE_FORMAT = "image/format"
IMAGE_HEIGHT = "image/height"
IMAGE_WIDTH = "image/width"
IMAGE_CHANNELS = "image/channels"
LABEL_ENCODED = "image/segmentation/class/encoded"
LABEL_FORMAT = "image/segmentation/class/format"

FEATURE_SPEC = {
    IMAGE_ENCODED: tf.io.FixedLenFeature((), tf.string, default_value=""),
    IMAGE_FILENAME: tf.io.FixedLenFeature((), tf.string, default_value=""),
    IMAGE_FORMAT: tf.io.FixedLenFeature((), tf.string, default_value="jpeg"),
    IMAGE_HEIGHT: tf.io.FixedLenFeature((), tf.int64, default_value=0),
    IMAGE_WIDTH: tf.io.FixedLenFeature((), tf.int64, default_value=0),
    LABEL_ENCODED: tf.io.FixedLenFeature((), tf.string, default_value=""),
    LABEL_FORMAT: tf.io.FixedLenFeature((), tf.string, default_value="png"),
}

_SHARD_RE = re.compile(r"-(\d{5})-of-(\d{5})\.tfrecord$")


def _bytes(value: bytes) -> tf.train.Feature:
  return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def _int64(value: int) -> tf.train.Feature:
  return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))


def make_example(image_bytes: bytes, image_format: str, filename: str,
                 height: int, width: int, label_png: bytes) -> tf.train.Example:
  """One record in the reference layout (channels is always 3)."""
  return tf.train.Example(features=tf.train.Features(feature={
      IMAGE_ENCODED: _bytes(image_bytes),
      IMAGE_FILENAME: _bytes(filename.encode("utf-8")),
      IMAGE_FORMAT: _bytes(image_format.encode("utf-8")),
      IMAGE_HEIGHT: _int64(height),
      IMAGE_WIDTH: _int64(width),
      IMAGE_CHANNELS: _int64(3),
      LABEL_ENCODED: _bytes(label_png),
      LABEL_FORMAT: _bytes(b"png"),
  }))


def shard_filename(output_dir: str, split: str, shard: int,
                   num_shards: int) -> str:
  return os.path.join(output_dir, "%s-%05d-of-%05d.tfrecord"
                      % (split, shard, num_shards))


def split_files(dataset_dir: str, split: str):
  """The shard files of `split`, sorted; [] when there are none.

  Also accepts the authors' test file naming, `<prefix>_<split>-...`
  (e.g. `pascal_voc_seg_val-00000-of-00001.tfrecord`), when no plain
  `<split>-*` shards exist.
  """
  pattern = os.path.join(glob.escape(dataset_dir), "%s-*-of-*.tfrecord"
                         % glob.escape(split))
  files = [f for f in glob.glob(pattern) if _SHARD_RE.search(f)]
  if not files:
    pattern = os.path.join(glob.escape(dataset_dir), "*_%s-*-of-*.tfrecord"
                           % glob.escape(split))
    files = [f for f in glob.glob(pattern) if _SHARD_RE.search(f)]
  return sorted(files)


def available_splits(dataset_dir: str):
  """Split names with at least one shard in `dataset_dir`."""
  names = set()
  for path in glob.glob(os.path.join(glob.escape(dataset_dir),
                                     "*-*-of-*.tfrecord")):
    base = os.path.basename(path)
    match = _SHARD_RE.search(base)
    if match:
      names.add(base[:match.start()])
  return sorted(names)


def checked_example(image, label, filename, size_message: str):
  """The example dict every source yields once decoded (TFRecords, TFDS),
  after checking that image and label have one size (else `size_message`
  and the file name)."""
  image_size = tf.shape(image)[:2]
  check = tf.debugging.assert_equal(
      image_size, tf.shape(label), message=tf.strings.join(
          [size_message, filename]))
  with tf.control_dependencies([check]):
    label = tf.identity(label)
  return {"image": image, "label": label, "height": image_size[0],
          "width": image_size[1], "filename": filename}
