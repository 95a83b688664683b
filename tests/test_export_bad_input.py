"""Bad input to the exported models: clear errors (or correct handling of
grayscale / RGBA), never a crashed process."""

import io

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from deeplab_tf import inference
from deeplab_tf.export import lib as export_lib
from deeplab_tf.export import tflite as tflite_lib
from deeplab_tf.model import build_model
from deeplab_tf.run_config import save_run_config
from tests import helpers as H
from tests.cli_helpers import run_cli


@pytest.fixture
def served(small_export):
  """The session's small SavedModel (conftest's `small_export`: an untrained
  tiny VOC model served at crop 65) and its Keras model."""
  return small_export


def _png(array) -> bytes:
  buffer = io.BytesIO()
  Image.fromarray(array).save(buffer, format="PNG")
  return buffer.getvalue()


def _bytes_call(served, items):
  return served["loaded"].signatures["serving_bytes"](
      image_bytes=tf.constant(items, tf.string))


def test_garbage_bytes_is_a_clear_error(served):
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match="image_bytes\\[0\\]: unknown image format"):
    _bytes_call(served, [b"this is not an image"])


def test_empty_string_is_a_clear_error(served):
  with pytest.raises(tf.errors.InvalidArgumentError, match="empty string"):
    _bytes_call(served, [b""])


def test_empty_request_gives_empty_outputs(served):
  out = _bytes_call(served, [])
  assert out["semantic_predictions"].shape[0] == 0


def test_gray_and_rgba_are_converted(served):
  rng = np.random.default_rng(0)
  gray = rng.integers(0, 255, (40, 50), np.uint8)
  rgba = rng.integers(0, 255, (33, 47, 4), np.uint8)
  out = _bytes_call(served, [_png(gray), _png(rgba)])
  assert list(out["height"].numpy()) == [40, 33]
  assert list(out["width"].numpy()) == [50, 47]
  labels = out["semantic_predictions"].numpy()
  for i, rgb in enumerate((np.repeat(gray[..., None], 3, -1), rgba[..., :3])):
    expected = inference.predict_labels(
        served["model"], rgb[None], crop_size=(65, 65),
        mean_pixel=(127.5,) * 3).numpy()[0]
    np.testing.assert_array_equal(labels[i, :rgb.shape[0], :rgb.shape[1]],
                                  expected)


# The loaded signature checks dtype and shape before running anything.
REJECTED = (TypeError, ValueError, tf.errors.InvalidArgumentError)


def test_wrong_dtype_or_rank_is_rejected(served):
  serve = served["loaded"].signatures["serving_default"]
  with pytest.raises(REJECTED):
    serve(images=tf.zeros([1, 32, 32, 3], tf.float32))
  with pytest.raises(REJECTED):
    serve(images=tf.zeros([32, 32, 3], tf.uint8))
  with pytest.raises(REJECTED):
    serve(images=tf.zeros([1, 32, 32, 4], tf.uint8))
  with pytest.raises(REJECTED):
    _bytes_call(served, [[b"a", b"b"]])


def test_zero_sized_image_is_a_clear_error(served):
  serve = served["loaded"].signatures["serving_default"]
  with pytest.raises(tf.errors.InvalidArgumentError, match="height and width"):
    serve(images=tf.zeros([1, 0, 32, 3], tf.uint8))


def test_tflite_rejects_wrong_shapes_and_variants():
  keras.utils.set_random_seed(3)
  model = build_model(H.voc_tiny_options(), upsample_logits=False)
  with pytest.raises(ValueError, match="variant"):
    tflite_lib.TFLiteSpec("int4", (65, 65))
  with pytest.raises(ValueError, match="representative"):
    tflite_lib.convert(model, tflite_lib.TFLiteSpec("int8", (65, 65)))
  runner = tflite_lib.TFLiteRunner(tflite_lib.convert(
      model, tflite_lib.TFLiteSpec("float32", (65, 65), "float32",
                                   "labels")), num_threads=1)
  with pytest.raises(ValueError, match="shape"):
    runner(np.zeros((65, 65, 3)))
  out = runner(np.zeros((1, 65, 65, 3)))
  assert list(out) == ["semantic_predictions"]


def test_export_config_and_missing_inputs(tmp_path):
  with pytest.raises(ValueError, match="padding"):
    export_lib.ExportConfig("a", "b", padding="reflect")
  with pytest.raises(ValueError, match="variant"):
    export_lib.ExportConfig("a", "b", tflite_variants=("int4",))
  result = run_cli("export.py", "--checkpoint_dir=%s" % tmp_path,
                   "--export_dir=%s" % (tmp_path / "out"))
  assert result.returncode == 1
  assert "deeplab_config.json not found" in result.stderr
  assert "Traceback" not in result.stderr


def test_int8_without_dataset_is_a_clear_error(tmp_path):
  opts = H.voc_tiny_options()
  model = build_model(opts)
  tf.train.CheckpointManager(tf.train.Checkpoint(model=model), str(tmp_path),
                             max_to_keep=1).save(checkpoint_number=1)
  save_run_config(str(tmp_path), H.tiny_run(opts, H.tiny_data(
      opts.num_classes, crop=65)))
  config = export_lib.ExportConfig(
      str(tmp_path), str(tmp_path / "out"), tflite=True,
      tflite_variants=("int8",), num_parity=1)
  with pytest.raises(ValueError, match="calibration"):
    export_lib.run_export(config, log=lambda *_: None)
