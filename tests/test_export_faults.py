"""Faults and hostile inputs of export and serving: nothing lost, nothing
silent.

One tiny MobileNetV2 checkpoint is exported once per session (conftest's
`small_export`, shared with test_export_bad_input.py: under umask 022, with
a small `max_image_pixels`); the tests then send hostile requests
to that SavedModel, check the modes of what export wrote, make a second
export fail half-way, and run export.py against a missing checkpoint, a
read-only and a full export directory.
"""

import errno
import json
import os
import shutil
import stat
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
import tensorflow as tf

from deeplab_tf import atomic_io, inference, run_config
from deeplab_tf.export import lib as export_lib
from deeplab_tf.export import tflite as tflite_lib
from tests import helpers as H
from tests.cli_helpers import Result, run_cli
from tests.helpers import REPO, encode

CROP = H.SMALL_EXPORT_CROP
LIMIT = H.SMALL_EXPORT_LIMIT  # the fixture's max_image_pixels


def png_of_size(height: int, width: int) -> bytes:
  """A valid all-black 1-bit grayscale PNG; a few hundred KB at 20000^2."""
  def chunk(kind, data):
    return (struct.pack(">I", len(data)) + kind + data +
            struct.pack(">I", zlib.crc32(kind + data)))
  row = b"\0" * (1 + (width + 7) // 8)  # filter byte + packed bits
  compressor = zlib.compressobj(9)
  idat = b"".join(compressor.compress(row) for _ in range(height))
  idat += compressor.flush()
  header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
  return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) +
          chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def tree(root):
  """{relative path: bytes or 'dir'} of everything under `root`."""
  out = {}
  for base, dirs, files in os.walk(root):
    for name in dirs:
      out[os.path.relpath(os.path.join(base, name), root)] = "dir"
    for name in files:
      path = os.path.join(base, name)
      with open(path, "rb") as f:
        out[os.path.relpath(path, root)] = f.read()
  return out


@pytest.fixture
def exported(small_export):
  return small_export


def keras_labels(exported, image):
  return inference.predict_labels(
      exported["model"], image[np.newaxis], crop_size=CROP,
      mean_pixel=exported["opts"].mean_pixel).numpy()[0]


def call(exported, signature, **inputs):
  return exported["loaded"].signatures[signature](**inputs)


# ------------------------------------------------------------- file modes
def test_export_outputs_follow_umask_022(exported):
  serving_dir = exported["dir"] / "serving"
  modes = {}
  for path in [serving_dir, *serving_dir.rglob("*"),
               exported["dir"] / "train" / run_config.CONFIG_FILENAME]:
    modes[str(path.relative_to(exported["dir"]))] = stat.S_IMODE(
        path.stat().st_mode)
  for name in ("serving/1", "serving/1/saved_model.pb",
               "serving/1/assets.extra/deeplab_config.json",
               "serving/export_report.json",
               "serving/deeplab_float32_65x65.tflite",
               "train/deeplab_config.json"):
    assert name in modes
  wrong = {name: oct(mode) for name, mode in modes.items()
           if mode != (0o755 if (exported["dir"] / name).is_dir() else 0o644)}
  assert not wrong, wrong
  assert not [n for n in os.listdir(serving_dir) if n.startswith(".")]


@pytest.mark.parametrize("mask", [0o077, 0o022, 0o002])
def test_atomic_files_and_temp_dirs_follow_umask(tmp_path, mask):
  previous = os.umask(mask)
  try:
    assert atomic_io.current_umask() == mask
    path = tmp_path / "sub" / "metrics.json"
    atomic_io.atomic_write_text(str(path), "{}\n")
    directory = atomic_io.make_temp_dir(str(tmp_path), ".tmp-")
  finally:
    os.umask(previous)
  assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask
  assert stat.S_IMODE(os.stat(directory).st_mode) == 0o777 & ~mask
  assert path.read_text() == "{}\n"
  assert sorted(os.listdir(path.parent)) == ["metrics.json"]


# ------------------------------------------------------- hostile requests
def test_serving_default_bad_shapes_are_clear_errors(exported):
  bad = {
      "got shape \\[32 32 3\\]": tf.zeros([32, 32, 3], tf.uint8),
      "got shape \\[\\]": tf.constant(7, tf.uint8),
      "images: 4 channels": tf.zeros([1, 32, 32, 4], tf.uint8),
      "images: empty batch": tf.zeros([0, 32, 32, 3], tf.uint8),
      "height and width >= 1": tf.zeros([1, 0, 32, 3], tf.uint8),
      "images: 170x160 = 27200 pixels exceeds the limit of 25600":
          tf.zeros([1, 170, 160, 3], tf.uint8),
  }
  for message, images in bad.items():
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
      call(exported, "serving_default", images=images)
  ok = call(exported, "serving_default",
            images=tf.zeros([2, 160, 160, 3], tf.uint8))
  assert ok["semantic_predictions"].shape == (2, 160, 160)


def test_serving_bytes_names_the_bad_item(exported):
  good = encode(np.full((20, 30, 3), 90, np.uint8), "PNG")
  bad = {
      "image_bytes\\[1\\]: unknown image format \\(3 bytes\\)": b"abc",
      "image_bytes\\[1\\]: empty string": b"",
      "image_bytes\\[1\\]: no valid size in the image header": good[:20],
      "image_bytes\\[1\\]: 170x160 = 27200 pixels exceeds the limit of "
      "25600": encode(np.zeros((170, 160), np.uint8), "JPEG"),
  }
  for message, item in bad.items():
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
      call(exported, "serving_bytes",
           image_bytes=tf.constant([good, item, good]))
  for shape in ([], [1, 1]):
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match="image_bytes: expected a \\[batch\\] vector"):
      call(exported, "serving_bytes",
           image_bytes=tf.reshape(tf.constant([good]), shape))


def test_every_format_within_the_limit_is_served(exported):
  rng = np.random.default_rng(0)
  rgb = rng.integers(0, 255, (40, 52, 3), np.uint8)
  rgba = rng.integers(0, 255, (25, 19, 4), np.uint8)
  items = [png_of_size(70, 90), encode(rgb, "JPEG"), encode(rgb, "GIF"),
           encode(rgb, "BMP"), encode(rgb, "WEBP"), encode(rgba, "WEBP"),
           encode(rgb[:33, :31], "PNG"), encode(np.zeros((160, 160), np.uint8),
                                               "JPEG")]
  out = call(exported, "serving_bytes", image_bytes=tf.constant(items))
  heights, widths = out["height"].numpy(), out["width"].numpy()
  assert list(heights) == [70, 40, 40, 40, 40, 25, 33, 160]
  assert list(widths) == [90, 52, 52, 52, 52, 19, 31, 160]
  labels = out["semantic_predictions"].numpy()
  for i, item in enumerate(items):
    image = tf.io.decode_image(item, expand_animations=False).numpy()
    if i == 0:  # the generated PNG: 1-bit gray, all black
      assert image.shape == (70, 90, 1) and not image.any()
    image = image[..., :3] if image.shape[-1] > 1 else np.repeat(image, 3, -1)
    np.testing.assert_array_equal(labels[i, :heights[i], :widths[i]],
                                  keras_labels(exported, image))
    assert (labels[i, heights[i]:] == -1).all()


FRESH_PROCESS = r"""
import json, resource, sys
sys.modules["deeplab_tf"] = None  # importing it would fail
import tensorflow as tf
serve = tf.saved_model.load(sys.argv[1]).signatures["serving_bytes"]
items = [open(path, "rb").read() for path in sys.argv[2:]]
out = {"normal": serve(image_bytes=tf.constant(items[:1]))["height"]
       .numpy().tolist(), "errors": []}
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
for hostile in items[1:]:
  try:
    serve(image_bytes=tf.constant([items[0], hostile]))
    out["errors"].append(None)
  except tf.errors.InvalidArgumentError as e:
    out["errors"].append(e.message)
out["grown_mb"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                   - before) / 1024
print(json.dumps(out))
"""


def test_huge_images_refused_before_decoding_in_fresh_process(exported,
                                                             tmp_path):
  # A 20000 x 20000 PNG (~100 KB) decodes to 1.2 GB of uint8 (4.8 GB as
  # float), an 8000 x 6000 JPEG to 144 MB: neither may be allocated.
  files = {"normal.png": encode(np.full((50, 60, 3), 70, np.uint8), "PNG"),
           "huge.png": png_of_size(20000, 20000),
           "big.jpg": encode(np.full((8000, 6000), 128, np.uint8), "JPEG")}
  assert len(files["huge.png"]) < 500_000
  for name, data in files.items():
    (tmp_path / name).write_bytes(data)
  script = tmp_path / "serve.py"
  script.write_text(FRESH_PROCESS)
  result = subprocess.run(
      [sys.executable, str(script), exported["report"]["saved_model"]] +
      [str(tmp_path / name) for name in files],
      cwd=tmp_path, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  out = json.loads(result.stdout.strip().splitlines()[-1])
  assert out["normal"] == [50]
  huge, big = out["errors"]
  assert ("image_bytes[1]: 20000x20000 = 400000000 pixels exceeds the "
          "limit of 25600 pixels") in huge
  assert "image_bytes[1]: 8000x6000 = 48000000 pixels" in big
  assert "--max_image_pixels" in huge
  assert out["grown_mb"] < 100, out


# ------------------------------------------- a failed export publishes nothing
def test_failed_tflite_step_publishes_nothing(exported, monkeypatch):
  serving_dir = exported["dir"] / "serving"
  before = tree(serving_dir)
  tflite_name = "deeplab_float32_65x65.tflite"
  # The disk fills up while the .tflite file is written, after the new
  # SavedModel was staged. (The conversion is the fixture's result for the
  # same checkpoint and spec, to save its time.)
  monkeypatch.setattr(tflite_lib, "convert",
                      lambda model, spec, representative=None:
                      before[tflite_name])
  write_temp_file = atomic_io.write_temp_file

  def disk_full_for_tflite(path, data):
    if path.endswith(".tflite"):
      raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    return write_temp_file(path, data)

  monkeypatch.setattr(atomic_io, "write_temp_file", disk_full_for_tflite)
  config = export_lib.ExportConfig(
      checkpoint=str(exported["dir"] / "train"),
      export_dir=str(serving_dir), version=2, tflite=True,
      tflite_variants=("float32",), overwrite=True, verify=False)
  with pytest.raises(export_lib.ExportWriteError) as error:
    export_lib.run_export(config, log=lambda *_: None)
  message = str(error.value)
  assert isinstance(error.value, OSError)  # export.py: one line, exit 1
  assert "writing %s failed: [Errno 28] No space left on device" % (
      serving_dir / tflite_name) in message
  assert "nothing new was published" in message
  # No version 2, no leftover staging files; version 1, its TFLite file and
  # its report byte for byte as they were.
  assert tree(serving_dir) == before
  report = json.loads(before["export_report.json"])
  assert report["version"] == 1
  assert report["saved_model"] == str(serving_dir / "1")


# --------------------------------------------------------------- export.py
def assert_one_clear_line(result, *phrases):
  assert result.returncode == 1, result.stderr[-2000:]
  assert "Traceback" not in result.stderr
  errors = [l for l in result.stderr.splitlines()
            if l.startswith("export.py: error: ")]
  assert len(errors) == 1, result.stderr[-2000:]
  for phrase in phrases:
    assert phrase in errors[0], errors[0]


def test_cli_nonexistent_checkpoint_dir(tmp_path):
  missing = tmp_path / "no_such_run"
  result = run_cli("export.py", "--noverify", "--checkpoint_dir=%s" % missing,
                   "--export_dir=%s" % (tmp_path / "out"))
  assert_one_clear_line(result, "--checkpoint_dir %s does not exist" % missing)
  assert not (tmp_path / "out").exists()
  # The library says the same (eval.py reads the run configuration too).
  with pytest.raises(FileNotFoundError,
                     match="--checkpoint_dir=%s does not exist" % missing):
    export_lib.run_export(export_lib.ExportConfig(str(missing), str(tmp_path)))


def _can_mount_privately():
  if os.geteuid() != 0 or shutil.which("unshare") is None:
    return False
  probe = subprocess.run(["unshare", "-m", "mount", "-t", "tmpfs", "tmpfs",
                          "/mnt"], capture_output=True)
  return probe.returncode == 0


# Both export.py runs of the next test, in one process of the private mount
# namespace (`run_cli`: the CLI's main, as `python export.py` runs it).
MOUNTED_EXPORTS = r"""
import json, sys
from tests.cli_helpers import run_cli
results = []
for export_dir in sys.argv[2:]:
  result = run_cli("export.py", "--noverify", sys.argv[1],
                   "--export_dir=%s" % export_dir)
  results.append({"returncode": result.returncode, "stderr": result.stderr})
print("RESULTS " + json.dumps(results))
"""


def test_cli_read_only_and_full_export_dir(exported, tmp_path):
  # Root ignores file modes, so a read-only and a full (1 MB, filled) file
  # system are mounted in a private mount namespace of the export process.
  if not _can_mount_privately():
    pytest.skip("needs root and `unshare -m` to mount a private tmpfs")
  checkpoint = "--checkpoint_dir=%s" % (exported["dir"] / "train")
  cases = (("read-only", "ro,size=1m", "Read-only file system"),
           ("full", "size=1m", "No space left on device"))
  for kind, _, _ in cases:
    (tmp_path / kind).mkdir()
  shell = ("mount -t tmpfs -o %s tmpfs %s && mount -t tmpfs -o %s tmpfs %s && "
           "{ dd if=/dev/zero of=%s/fill bs=64k 2>/dev/null; exec \"$@\"; }"
           % (cases[0][1], tmp_path / cases[0][0], cases[1][1],
              tmp_path / cases[1][0], tmp_path / cases[1][0]))
  result = subprocess.run(
      ["unshare", "-m", "sh", "-c", shell, "sh", sys.executable, "-c",
       MOUNTED_EXPORTS, checkpoint] +
      [str(tmp_path / kind / "serving") for kind, _, _ in cases],
      cwd=REPO, capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  lines = [l for l in result.stdout.splitlines() if l.startswith("RESULTS ")]
  assert len(lines) == 1, result.stdout[-3000:]
  for (kind, _, reason), run in zip(cases, json.loads(lines[0][8:])):
    mount = tmp_path / kind
    assert_one_clear_line(Result(run["returncode"], "", run["stderr"]),
                          "--export_dir %s cannot be written: %s"
                          % (mount / "serving", reason))
    assert not os.listdir(mount)  # the mount ended with the process
