"""TFLite at the deployment's input size, run on frames of any size.

One tiny random MobileNetV2 checkpoint is exported once with
`tflite_input_size` != the crop; `TFLiteSegmenter` then pads, tiles and
resizes frames through the .tflite file, each compared with the Keras
evaluation path (`inference.predict_labels`) on the same pixels.
"""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from deeplab_tf import inference
from deeplab_tf.export import lib as export_lib
from deeplab_tf.export import tflite as tflite_lib
from deeplab_tf.export.tflite_runner import TFLiteSegmenter
from deeplab_tf.model import build_model
from deeplab_tf.run_config import save_run_config
from tests import helpers as H

CROP, INPUT = (65, 65), (49, 73)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
  pytest.importorskip("ai_edge_litert")
  tmp = tmp_path_factory.mktemp("tflite_runner")
  keras.utils.set_random_seed(5)
  opts = H.tiny_options(num_classes=4)
  model = build_model(opts, upsample_logits=False)
  run = tmp / "run"
  save_run_config(str(run), H.tiny_run(opts, H.tiny_data(4, crop=CROP[0])))
  tf.train.CheckpointManager(tf.train.Checkpoint(model=model), str(run),
                             1).save(checkpoint_number=7)
  lines = []
  report = export_lib.run_export(export_lib.ExportConfig(
      checkpoint=str(run), export_dir=str(tmp / "serving"), tflite=True,
      tflite_variants=("float32",), tflite_input_size=INPUT, num_parity=2),
      log=lines.append)
  path = report["tflite"]["float32"]["path"]
  return {"model": model, "opts": opts, "report": report, "log": lines,
          "seg": TFLiteSegmenter(path, num_threads=1), "path": path,
          "dir": tmp}


def keras_labels(exported, frame):
  return inference.predict_labels(
      exported["model"], np.asarray(frame, np.float32)[np.newaxis],
      crop_size=INPUT, mean_pixel=exported["opts"].mean_pixel).numpy()[0]


def frame(height, width, seed=0):
  """A smooth random RGB frame (uint8), so labels form regions."""
  rng = np.random.default_rng(seed)
  base = rng.uniform(0, 255, (height // 8 + 2, width // 8 + 2, 3))
  return np.asarray(Image.fromarray(base.astype(np.uint8)).resize(
      (width, height), Image.BILINEAR))


def agreement(a, b):
  assert a.shape == b.shape
  return float(np.mean(a == b))


def test_export_uses_and_reports_the_requested_input_size(exported):
  report, seg = exported["report"], exported["seg"]
  assert exported["path"].endswith("deeplab_float32_49x73.tflite")
  assert report["tflite_input_size"] == {"size": list(INPUT),
                                         "reason": "--tflite_input_size"}
  assert "TFLite input 49x73: --tflite_input_size" in exported["log"]
  assert report["parity"]["tflite_float32"]["passed"]
  on_disk = json.loads((exported["dir"] / "serving" /
                        "export_report.json").read_text())
  assert on_disk["tflite_input_size"]["size"] == list(INPUT)
  assert seg.input_size == INPUT and seg.input_dtype == np.uint8
  size, why = tflite_lib.choose_input_size(None, CROP)
  assert size == CROP and "crop size" in why
  with pytest.raises(ValueError, match="--tflite_input_size=a,b"):
    tflite_lib.choose_input_size(["a", "b"], CROP)


def test_outputs_by_name(exported):
  seg = exported["seg"]
  assert seg.output_names == ("logits", "semantic_predictions")
  image = frame(*INPUT)
  out = seg.outputs(image)
  assert out["semantic_predictions"].shape == INPUT
  assert out["semantic_predictions"].dtype == np.int32
  native = exported["model"](image[np.newaxis].astype(np.float32)).numpy()[0]
  logits = seg.logits(image)
  # decoder stride 4: (49 - 1) / 4 + 1 by (73 - 1) / 4 + 1, 4 classes
  assert logits.shape == native.shape == (13, 19, 4)
  np.testing.assert_allclose(logits, native, atol=1e-4 * np.abs(native).max())


def test_small_frame_is_padded_like_evaluation(exported):
  image = frame(40, 60, seed=1)
  labels = exported["seg"].labels(image)
  assert labels.shape == (40, 60) and labels.dtype == np.int32
  assert agreement(labels, keras_labels(exported, image)) >= 0.99
  with pytest.raises(ValueError, match="--tflite_input_size=100,60"):
    exported["seg"].labels(frame(100, 60), mode="pad")


def test_large_frame_is_tiled(exported):
  image = frame(2 * INPUT[0] + 10, 2 * INPUT[1] + 3, seed=2)  # 3x3 tiles
  labels = exported["seg"].labels(image)  # 'auto' tiles what does not fit
  assert labels.shape == image.shape[:2]
  want = np.zeros(image.shape[:2], np.int32)
  for y in (0, INPUT[0], 2 * INPUT[0]):
    for x in (0, INPUT[1], 2 * INPUT[1]):
      tile = image[y:y + INPUT[0], x:x + INPUT[1]]
      want[y:y + tile.shape[0], x:x + tile.shape[1]] = keras_labels(
          exported, tile)
  assert agreement(labels, want) >= 0.99


def test_large_frame_is_resized(exported):
  image = frame(2 * INPUT[0], 2 * INPUT[1], seed=3)  # exactly 2x the input
  labels = exported["seg"].labels(image, mode="resize")
  small = np.asarray(Image.fromarray(image).resize(INPUT[::-1],
                                                   Image.BILINEAR))
  want = np.repeat(np.repeat(keras_labels(exported, small), 2, 0), 2, 1)
  assert agreement(labels, want) >= 0.99
