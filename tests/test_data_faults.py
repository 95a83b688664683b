"""Fault injection, data side: multi-split builds are all or nothing, JPEGs
are decoded strictly, EXIF-rotated images get a hint, truncated and
bit-flipped shards are named, and kill -9 during a build keeps the previous
dataset valid."""

import io
import json
import multiprocessing
import os
import random
import shutil
import signal
import time

import numpy as np
import pytest
from PIL import Image

from deeplab_tf.data import DataError, get_dataset_descriptor
from deeplab_tf.data import tfrecord_schema as schema
from deeplab_tf.data.builders import build_folder
from deeplab_tf.data.input_pipeline import build_eval_dataset
from deeplab_tf.data.shard_check import bad_shards, record_read_error
from deeplab_tf.data.synthetic import write_synthetic_dataset
from deeplab_tf.data.validation import validate_split

CAMVID = get_dataset_descriptor("camvid")


def snapshot(directory):
  return {f: (directory / f).read_bytes() for f in sorted(os.listdir(directory))}


def jpeg_bytes(array, **kwargs):
  buffer = io.BytesIO()
  Image.fromarray(array).save(buffer, format="JPEG", quality=90, **kwargs)
  return buffer.getvalue()


def make_folder(root, names, size=(24, 32)):
  (root / "images").mkdir(parents=True)
  (root / "masks").mkdir()
  rng = np.random.default_rng(0)
  for name in names:
    (root / "images" / (name + ".jpg")).write_bytes(
        jpeg_bytes(rng.integers(0, 255, size + (3,), np.uint8)))
    Image.fromarray(rng.integers(0, 11, size, np.uint8), mode="L").save(
        root / "masks" / (name + ".png"))
  return root


def corrupt_entropy(data, seed=0):
  """Garbage (no 0xFF) over 100 bytes in the middle of the scan data."""
  start = data.index(b"\xff\xda")
  mid = (start + len(data)) // 2
  garbage = bytes(np.random.default_rng(seed).integers(0, 255, 100,
                                                       np.uint8))
  return data[:mid] + garbage.replace(b"\xff", b"\x00") + data[mid + 100:]


def test_multi_split_build_is_all_or_nothing(tmp_path):
  root = make_folder(tmp_path / "data", ["a", "b", "c", "d"])
  (root / "train.txt").write_text("a\nb\n")
  (root / "val.txt").write_text("c\nd\n")
  lists = {"train": str(root / "train.txt"), "val": str(root / "val.txt")}
  out = tmp_path / "out"
  build_folder(str(root), str(out), "camvid", split_lists=lists,
               num_workers=1, verbose=False)
  before = snapshot(out)
  # The rebuild adds a train image, but val has a bad mask: nothing changes.
  make_folder(tmp_path / "more", ["e"])
  for sub in ("images/e.jpg", "masks/e.png"):
    shutil.copy(tmp_path / "more" / sub, root / sub)
  (root / "train.txt").write_text("a\nb\ne\n")
  Image.fromarray(np.full((24, 32), 40, np.uint8), mode="L").save(
      root / "masks" / "d.png")
  with pytest.raises(DataError, match=r"(?s)split .val.*d\.png"):
    build_folder(str(root), str(out), "camvid", split_lists=lists,
                 num_workers=1, verbose=False)
  assert snapshot(out) == before
  sizes = json.loads((out / "label_map.json").read_text())["splits"]
  assert sizes == {"train": 2, "val": 2}
  assert validate_split(str(out), "train", CAMVID).num_records == 2


def test_corrupt_jpeg_entropy_data_is_named(tmp_path):
  root = make_folder(tmp_path / "data", ["good", "bad"])
  path = root / "images" / "bad.jpg"
  damaged = corrupt_entropy(path.read_bytes())
  # PIL decodes it without a word (the reason for the strict check).
  Image.open(io.BytesIO(damaged)).load()
  path.write_bytes(damaged)
  with pytest.raises(DataError, match=r"bad\.jpg is a corrupt JPEG "
                     r"\(Corrupt JPEG data"):
    build_folder(str(root), str(tmp_path / "out"), "camvid", num_workers=1,
                 verbose=False)
  assert not os.path.exists(tmp_path / "out" / "train-00000-of-00002.tfrecord")


def test_validator_decodes_jpegs_strictly(tmp_path):
  rng = np.random.default_rng(1)
  image = rng.integers(0, 255, (24, 32, 3), np.uint8)
  label = io.BytesIO()
  Image.fromarray(np.zeros((24, 32), np.uint8), mode="L").save(label, "PNG")
  import tensorflow as tf
  with tf.io.TFRecordWriter(schema.shard_filename(str(tmp_path), "val", 0,
                                                  1)) as writer:
    for name, data in (("fine.jpg", jpeg_bytes(image)),
                       ("broken.jpg", corrupt_entropy(jpeg_bytes(image)))):
      writer.write(schema.make_example(data, "jpeg", name, 24, 32,
                                       label.getvalue()).SerializeToString())
  report = validate_split(str(tmp_path), "val", CAMVID)
  assert report.num_records == 2
  assert [name.split(" ")[0] for name, _ in report.bad_records] == [
      "broken.jpg"]
  assert "corrupt JPEG" in report.bad_records[0][1]


def test_exif_rotated_image_gets_an_orientation_hint(tmp_path):
  root = make_folder(tmp_path / "data", ["photo"], size=(24, 32))
  # Stored 24x32, EXIF orientation 6: shown rotated as 32x24, and the mask
  # was drawn on what the viewer showed.
  exif = Image.Exif()
  exif[0x0112] = 6
  stored = np.random.default_rng(2).integers(0, 255, (24, 32, 3), np.uint8)
  (root / "images" / "photo.jpg").write_bytes(jpeg_bytes(stored,
                                                         exif=exif.tobytes()))
  Image.fromarray(np.zeros((32, 24), np.uint8), mode="L").save(
      root / "masks" / "photo.png")
  with pytest.raises(DataError) as error:
    build_folder(str(root), str(tmp_path / "out"), "camvid", num_workers=1,
                 verbose=False)
  line = [l for l in str(error.value).splitlines() if "photo.jpg" in l]
  assert len(line) == 1 and "photo.jpg is 24x32 but label" in line[0]
  assert "EXIF orientation 6" in line[0] and "exif_transpose" in line[0]


@pytest.mark.parametrize("damage", ["truncate", "bitflip"])
def test_damaged_shard_is_named(synthetic_records, tmp_path, damage):
  data = tmp_path / "records"
  shutil.copytree(synthetic_records, data)
  shard = schema.split_files(str(data), "val")[1]
  raw = bytearray(open(shard, "rb").read())
  if damage == "truncate":
    raw = raw[:len(raw) * 2 // 3]
  else:
    raw[len(raw) // 2] ^= 0x10  # inside the image bytes: the data CRC
  open(shard, "wb").write(bytes(raw))
  assert [path for path, _ in bad_shards(schema.split_files(str(data),
                                                            "val"))] == [shard]
  report = validate_split(str(data), "val", get_dataset_descriptor(str(data)))
  assert not report.ok and shard in report.bad_records[-1][1]
  import tensorflow as tf
  dataset = build_eval_dataset(str(data), "val", crop_size=(33, 33),
                               batch_size=1, ignore_label=255, mean_pixel=128)
  with pytest.raises(tf.errors.DataLossError) as raw_error:
    for _ in dataset:
      pass
  error = record_read_error(str(data), "val", raw_error.value)
  assert os.path.basename(shard) in str(error) and "rebuild" in str(error)


def _build(out, seed):
  """The build a killed process runs (in a forked child)."""
  write_synthetic_dataset(out, num_train=120, num_val=60, image_size=(48, 48),
                          num_shards=3, seed=seed)


def test_kill_9_during_a_build_keeps_the_previous_dataset(tmp_path):
  out = tmp_path / "out"
  write_synthetic_dataset(str(out), num_train=6, num_val=3,
                          image_size=(48, 48), num_shards=3)
  before = snapshot(out)
  context = multiprocessing.get_context("fork")  # a real process, no re-import
  rng = random.Random(0)
  for attempt in range(3):
    child = context.Process(target=_build, args=(str(out), attempt + 1))
    child.start()
    deadline = time.time() + 60
    while not [f for f in os.listdir(out) if ".tmp-" in f]:  # encoding
      assert time.time() < deadline and child.is_alive()
      time.sleep(0.01)
    time.sleep(rng.uniform(0.0, 0.5))
    os.kill(child.pid, signal.SIGKILL)
    child.join(30)
    assert child.exitcode == -signal.SIGKILL, "the build ended before the kill"
    after = {f: v for f, v in snapshot(out).items() if ".tmp-" not in f}
    assert after == before, "kill %d changed the dataset" % attempt
  # The next build publishes everything and removes the killed temporaries.
  write_synthetic_dataset(str(out), num_train=4, num_val=2,
                          image_size=(48, 48), num_shards=3)
  assert not [f for f in os.listdir(out) if ".tmp-" in f]
  sizes = json.loads((out / "label_map.json").read_text())["splits"]
  descriptor = get_dataset_descriptor(str(out))
  for split, count in sizes.items():
    report = validate_split(str(out), split, descriptor)
    assert report.ok and report.num_records == count
