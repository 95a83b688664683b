"""Every bad input gives a clear error naming the file, and nothing is
half-written."""

import io
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from deeplab_tf.data import DataError, get_dataset_descriptor
from deeplab_tf.data import tfrecord_schema as schema
from deeplab_tf.data.builders import build_folder
from deeplab_tf.data.input_pipeline import (build_eval_dataset,
                                            build_train_dataset)
from deeplab_tf.data.validation import validate_split
from deeplab_tf.data.writer import ExampleSource, write_split
from deeplab_tf.data.encode_splits import Encoder
from tests.cli_helpers import assert_one_error, run_cli

CAMVID = get_dataset_descriptor("camvid")


def make_folder(root, n=3, size=(8, 10)):
  """n tiny RGB images with raw-id masks (values 0..11) under root."""
  (root / "images").mkdir(parents=True)
  (root / "masks").mkdir()
  rng = np.random.default_rng(0)
  for i in range(n):
    Image.fromarray(rng.integers(0, 255, size + (3,), np.uint8)).save(
        root / "images" / ("im%d.png" % i))
    Image.fromarray(rng.integers(0, 12, size, np.uint8), mode="L").save(
        root / "masks" / ("im%d.png" % i))
  return root


def build(root, out, **kwargs):
  return build_folder(str(root), str(out), "camvid", num_workers=1,
                      verbose=False, **kwargs)


def assert_nothing_written(out):
  leftovers = os.listdir(out) if os.path.isdir(out) else []
  assert not [f for f in leftovers if ".tfrecord" in f], leftovers


@pytest.mark.parametrize("damage,message", [
    (lambda p: p.write_bytes(b"not an image at all"), "corrupt or truncated"),
    (lambda p: p.write_bytes(p.read_bytes()[:60]), "corrupt or truncated"),
])
def test_corrupt_or_truncated_image(tmp_path, damage, message):
  root = make_folder(tmp_path / "data")
  damage(root / "images/im1.png")
  with pytest.raises(DataError, match=message) as error:
    build(root, tmp_path / "out")
  assert "im1.png" in str(error.value)
  assert_nothing_written(tmp_path / "out")


def test_size_mismatch(tmp_path):
  root = make_folder(tmp_path / "data")
  Image.fromarray(np.zeros((9, 10), np.uint8), mode="L").save(
      root / "masks/im2.png")
  with pytest.raises(DataError, match=r"im2.png is 8x10 but label .*im2.png "
                     r"is 9x10"):
    build(root, tmp_path / "out")
  assert_nothing_written(tmp_path / "out")


def test_missing_label(tmp_path):
  root = make_folder(tmp_path / "data")
  os.remove(root / "masks/im0.png")
  with pytest.raises(DataError, match=r"label file .*im0.png does not exist"):
    build(root, tmp_path / "out")
  assert_nothing_written(tmp_path / "out")


def test_label_values_out_of_range_lists_every_bad_file(tmp_path):
  root = make_folder(tmp_path / "data")
  for i in (0, 2):
    Image.fromarray(np.full((8, 10), 40, np.uint8), mode="L").save(
        root / "masks" / ("im%d.png" % i))
  with pytest.raises(DataError, match="2 bad example") as error:
    build(root, tmp_path / "out")
  message = str(error.value)
  assert "im0.png" in message and "im2.png" in message
  assert "label values 40 are outside [0, 11)" in message
  assert_nothing_written(tmp_path / "out")


def test_rgb_mask_without_colormap(tmp_path):
  root = make_folder(tmp_path / "data", n=1)
  Image.fromarray(np.zeros((8, 10, 3), np.uint8)).save(root / "masks/im0.png")
  label_map = tmp_path / "plain.txt"
  label_map.write_text("0, a\n1, b\nignore, 255\n")
  with pytest.raises(DataError, match=r"im0.png is an RGB colour mask but "
                     r"dataset plain has no colormap"):
    build_folder(str(root), str(tmp_path / "out"), str(label_map),
                 num_workers=1, verbose=False)


def test_rgb_mask_with_unknown_colour(tmp_path):
  root = make_folder(tmp_path / "data", n=1)
  Image.fromarray(np.full((8, 10, 3), 7, np.uint8)).save(root / "masks/im0.png")
  with pytest.raises(DataError, match=r"im0.png has colours not in the camvid "
                     r"colormap: \(7, 7, 7\)"):
    build(root, tmp_path / "out")


def test_empty_split(tmp_path):
  root = make_folder(tmp_path / "data", n=1)
  (root / "empty.txt").write_text("\n")
  with pytest.raises(DataError, match=r"split list .*empty.txt is empty"):
    build(root, tmp_path / "out", split_lists={"train": "empty.txt"})
  (tmp_path / "none/images").mkdir(parents=True)
  (tmp_path / "none/masks").mkdir()
  with pytest.raises(DataError, match="split 'train' has no examples"):
    build(tmp_path / "none", tmp_path / "out")
  assert_nothing_written(tmp_path / "out")


def test_wrong_dirs(tmp_path):
  with pytest.raises(DataError, match="'/no/such/dir' does not exist"):
    build_train_dataset("/no/such/dir", "train", crop_size=(8, 8),
                        batch_size=1, ignore_label=255, mean_pixel=127.5)
  with pytest.raises(DataError, match="--root '/no/such/root' does not"):
    build("/no/such/root", tmp_path / "out")
  root = make_folder(tmp_path / "data", n=1)
  build(root, tmp_path / "out")
  with pytest.raises(DataError, match=r"no TFRecords for split 'val' in .*"
                     r"splits found there: train"):
    build_eval_dataset(str(tmp_path / "out"), "val", crop_size=(8, 8),
                       batch_size=1, ignore_label=255, mean_pixel=127.5)


def test_failed_rebuild_keeps_the_previous_shards(tmp_path):
  root = make_folder(tmp_path / "data")
  build(root, tmp_path / "out")
  before = {f: (tmp_path / "out" / f).read_bytes()
            for f in os.listdir(tmp_path / "out")}
  os.remove(root / "masks/im1.png")
  with pytest.raises(DataError):
    build(root, tmp_path / "out")
  after = {f: (tmp_path / "out" / f).read_bytes()
           for f in os.listdir(tmp_path / "out")}
  assert after == before


class _Interrupting:
  """An encoder that is interrupted (Ctrl-C) at the third example."""

  def __init__(self):
    self.encoder, self.calls = Encoder(CAMVID), 0

  def __call__(self, source):
    self.calls += 1
    if self.calls == 3:
      raise KeyboardInterrupt
    return self.encoder(source)


def test_interrupted_build_leaves_no_shard(tmp_path):
  root = make_folder(tmp_path / "data", n=4)
  sources = [ExampleSource(str(root / "images" / ("im%d.png" % i)),
                           str(root / "masks" / ("im%d.png" % i)), str(i))
             for i in range(4)]
  with pytest.raises(KeyboardInterrupt):
    write_split(str(tmp_path / "out"), "train", sources, _Interrupting(),
                num_shards=4, num_workers=1, verbose=False)
  assert os.listdir(tmp_path / "out") == []


def _write_records(path, records):
  with tf.io.TFRecordWriter(str(path)) as writer:
    for record in records:
      writer.write(record.SerializeToString())


def _png(array):
  buffer = io.BytesIO()
  Image.fromarray(array).save(buffer, format="PNG")
  return buffer.getvalue()


def test_validator_lists_every_bad_record(tmp_path):
  image = _png(np.zeros((4, 5, 3), np.uint8))
  good_label = _png(np.zeros((4, 5), np.uint8))
  records = [
      schema.make_example(image, "png", "good", 4, 5, good_label),
      schema.make_example(b"garbage", "png", "corrupt", 4, 5, good_label),
      schema.make_example(image, "png", "mismatch", 4, 5,
                          _png(np.zeros((3, 5), np.uint8))),
      schema.make_example(image, "png", "outofrange", 4, 5,
                          _png(np.full((4, 5), 30, np.uint8))),
  ]
  _write_records(schema.shard_filename(str(tmp_path), "train", 0, 2), records)
  second = schema.shard_filename(str(tmp_path), "train", 1, 2)
  _write_records(second, records[:1] * 3)
  data = open(second, "rb").read()
  open(second, "wb").write(data[:len(data) - 10])  # truncated file
  report = validate_split(str(tmp_path), "train", CAMVID)
  assert not report.ok
  reasons = "\n".join(r for _, r in report.bad_records)
  assert "corrupt" in reasons and "image does not decode" in reasons
  assert "mismatch" in reasons and "label is 3x5" in reasons
  assert "outofrange" in reasons and "label values 30 outside" in reasons
  assert "train-00001-of-00002.tfrecord: TFRecord file is truncated" in reasons
  assert len(report.bad_records) == 4
  # The training reader refuses the mismatched record, naming it.
  reader_dir = tmp_path / "reader"
  reader_dir.mkdir()
  _write_records(schema.shard_filename(str(reader_dir), "train", 0, 1),
                 records[2:3])
  with pytest.raises(tf.errors.InvalidArgumentError, match="mismatch"):
    for _ in build_eval_dataset(str(reader_dir), "train", crop_size=(4, 5),
                                batch_size=1, ignore_label=11,
                                mean_pixel=127.5):
      pass
  result = run_cli("python -m datasets.validate", "--dataset=camvid",
                   "--dataset_dir=%s" % tmp_path, "--split=train")
  assert_one_error(result, "python -m datasets.validate", 1,
                   "bad record(s) in split train")
  assert "BAD: " in result.stdout and "outofrange" in result.stdout


def test_validator_cli_wrong_dataset_dir():
  result = run_cli("python -m datasets.validate", "--dataset=camvid",
                   "--dataset_dir=/no/such/dir", "--split=train")
  assert_one_error(result, "python -m datasets.validate", 1,
                   "dataset_dir '/no/such/dir' does not exist")
