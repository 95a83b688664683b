"""Parity checks of exported models against the Keras model they came from.

Run by export itself; every check returns a plain dict (numbers plus
`passed`) that goes into `export_report.json`:
  * SavedModel (reloaded from disk) vs the Keras evaluation path: largest
    probability difference and label agreement, per image at its own size;
  * TFLite vs Keras on the same padded crop: logits difference relative to
    the largest Keras logit, label agreement, and, where ground truth is
    available, mIoU of both and their difference.
"""

from typing import Dict, List, Optional, Sequence

import numpy as np
import tensorflow as tf

from deeplab_tf import inference
from deeplab_tf import padding
from deeplab_tf.evaluation import metrics
from deeplab_tf.export import tflite as tflite_lib

# (max relative logits error, min label agreement, max |mIoU difference|).
# float32 is the 1e-4; the quantised bounds are what a correct
# conversion meets on real images (a broken one is off by orders).
TFLITE_BOUNDS = {
    "float32": {"logits_rel": 1e-4, "agreement": 0.999},
    "float16": {"logits_rel": 5e-3, "agreement": 0.99},
    "dynamic_int8": {"logits_rel": 0.1, "agreement": 0.9},
    "int8": {"logits_rel": None, "agreement": 0.8, "miou_diff": 0.1},
}
SAVED_MODEL_BOUNDS = {"probabilities_abs": 1e-4, "agreement": 0.999}
# A mixed_bfloat16 SavedModel: labels only (bf16 has ~3 significant digits).
BF16_BOUNDS = {"probabilities_abs": None, "agreement": 0.99}
ONNX_BOUNDS = {"logits_rel": 1e-4, "agreement": 0.999}
# BatchNorm folded into the convs: float32 reassociation only. The tests
# hold tiny models to 1e-5; a real model (the authors' MobileNetV2 golden
# weights, ~50 folded layers with calibrated statistics) moves by 1.4e-5, so
# exports accept what every other float32 export format gets.
FOLD_BOUNDS = {"logits_rel": 1e-4}


def to_input_size(array: np.ndarray, size, value) -> np.ndarray:
  """The static TFLite input: an image [H, W, 3] padded with the mean pixel
  `value` (float32, `padding.pad_image`) or a label [H, W] with the ignore
  label `value` (`padding.pad_label`) bottom/right to >= size, then its
  top-left `size` crop (evaluation's padding for images up to the crop)."""
  array = tf.convert_to_tensor(array)
  shape = tf.shape(array)
  height, width = padding.padded_size(shape[0], shape[1], size)
  if array.shape.rank == 3:
    out = padding.pad_image(tf.cast(array, tf.float32), height, width, value)
  else:
    out = padding.pad_label(array, height, width, value)
  return out[:size[0], :size[1]].numpy()


def _agreement(a, b) -> float:
  return float(np.mean(np.asarray(a) == np.asarray(b)))


def check_saved_model(saved_model_dir: str, native_model, images:
                      Sequence[np.ndarray], *, crop_size, mean_pixel,
                      scales=(1.0,), add_flipped_images=False,
                      bounds: Optional[Dict] = None) -> Dict:
  """Reloads the SavedModel and compares `serving_default` with Keras."""
  bounds = SAVED_MODEL_BOUNDS if bounds is None else bounds
  loaded = tf.saved_model.load(saved_model_dir)
  serve = loaded.signatures["serving_default"]
  max_abs, agree, pixels = 0.0, 0.0, 0
  for image in images:
    batch = tf.constant(np.asarray(image, np.uint8)[np.newaxis])
    out = serve(images=batch)
    padded = padding.pad_to_crop(tf.cast(batch, tf.float32), crop_size,
                                   mean_pixel)
    expected = inference.predict_probabilities(
        native_model, padded, scales=scales,
        add_flipped_images=add_flipped_images)
    expected = expected[:, :image.shape[0], :image.shape[1]].numpy()
    got = out["semantic_probabilities"].numpy()
    max_abs = max(max_abs, float(np.max(np.abs(got - expected))))
    labels = out["semantic_predictions"].numpy()
    agree += np.sum(labels == np.argmax(expected, -1))
    pixels += labels.size
  result = {"images": len(images), "probabilities_max_abs_diff": max_abs,
            "label_agreement": float(agree / max(pixels, 1))}
  result["bounds"] = dict(bounds)
  result["passed"] = bool(
      (bounds["probabilities_abs"] is None or
       max_abs <= bounds["probabilities_abs"]) and
      result["label_agreement"] >= bounds["agreement"])
  return result


def _padded_logits(native_model, image, crop_size, mean_pixel):
  padded = padding.pad_to_crop(
      tf.constant(np.asarray(image, np.float32)[np.newaxis]), crop_size,
      mean_pixel)
  return tf.cast(native_model(padded, training=False), tf.float32).numpy()


def check_folded(folded_model, native_model, images: Sequence[np.ndarray],
                 *, crop_size, mean_pixel) -> Dict:
  """BatchNorm-folded vs original native logits (relative to the largest)."""
  max_err, max_ref = 0.0, 0.0
  for image in images:
    want = _padded_logits(native_model, image, crop_size, mean_pixel)
    got = _padded_logits(folded_model, image, crop_size, mean_pixel)
    max_err = max(max_err, float(np.max(np.abs(got - want))))
    max_ref = max(max_ref, float(np.max(np.abs(want))))
  result = {"images": len(images),
            "logits_max_rel_diff": max_err / max(max_ref, 1e-30),
            "bounds": dict(FOLD_BOUNDS)}
  result["passed"] = bool(
      result["logits_max_rel_diff"] <= FOLD_BOUNDS["logits_rel"])
  return result


def check_onnx(runner, native_model, images: Sequence[np.ndarray], *,
               crop_size, mean_pixel, scales=(1.0,),
               add_flipped_images=False) -> Dict:
  """ONNX Runtime (`export.onnx.OnnxRunner`) vs the Keras model: native
  logits relative to the largest Keras logit, labels vs evaluation's."""
  max_err, max_ref, agree, pixels = 0.0, 0.0, 0.0, 0
  for image in images:
    out = runner(np.asarray(image, np.uint8)[np.newaxis])
    want = _padded_logits(native_model, image, crop_size, mean_pixel)
    max_err = max(max_err, float(np.max(np.abs(out["logits"] - want))))
    max_ref = max(max_ref, float(np.max(np.abs(want))))
    labels = inference.predict_labels(
        native_model, np.asarray(image, np.float32)[np.newaxis],
        crop_size=crop_size, mean_pixel=mean_pixel, scales=scales,
        add_flipped_images=add_flipped_images).numpy()
    agree += np.sum(out["semantic_predictions"] == labels)
    pixels += labels.size
  result = {"images": len(images),
            "logits_max_rel_diff": max_err / max(max_ref, 1e-30),
            "label_agreement": float(agree / max(pixels, 1)),
            "bounds": dict(ONNX_BOUNDS)}
  result["passed"] = _within(result, ONNX_BOUNDS)
  return result


def check_sliding(saved_model_dir: str, native_model,
                  images: Sequence[np.ndarray], *, window, mean_pixel,
                  num_classes: int, scales=(1.0,),
                  add_flipped_images=False) -> Dict:
  """`serving_sliding` vs `sliding_window.predict_sliding` on Keras."""
  from deeplab_tf import sliding_window  # pylint: disable=g-import-not-at-top
  serve = tf.saved_model.load(saved_model_dir).signatures["serving_sliding"]
  # One graph for every image size (eagerly, each window of each image
  # would run the Keras model op by op: 4x slower here).
  reference = tf.function(
      lambda batch: sliding_window.predict_sliding(
          native_model, batch, window=window, mean_pixel=mean_pixel,
          num_classes=num_classes, scales=scales,
          add_flipped_images=add_flipped_images),
      input_signature=[tf.TensorSpec([1, None, None, 3], tf.uint8)])
  agree, pixels = 0.0, 0
  for image in images:
    batch = tf.constant(np.asarray(image, np.uint8)[np.newaxis])
    got = serve(images=batch)["semantic_predictions"].numpy()
    want = reference(batch).numpy()
    agree += np.sum(got == want)
    pixels += want.size
  result = {"images": len(images), "window_size": list(window.window_size),
            "window_stride": list(window.window_stride),
            "label_agreement": float(agree / max(pixels, 1)),
            "bounds": {"agreement": SAVED_MODEL_BOUNDS["agreement"]}}
  result["passed"] = bool(
      result["label_agreement"] >= SAVED_MODEL_BOUNDS["agreement"])
  return result


def keras_reference(native_model, images: np.ndarray, size):
  """(native logits, labels at `size`) of the Keras model, float32 input."""
  logits = native_model(tf.constant(images, tf.float32), training=False)
  logits = tf.cast(logits, tf.float32)
  up = inference.resize_align_corners(logits, list(size))
  return logits.numpy(), tf.argmax(up, -1, output_type=tf.int32).numpy()


def check_tflite(model: bytes, spec, native_model,
                 samples: Sequence[Dict[str, np.ndarray]], *,
                 num_classes: int, ignore_label: Optional[int] = None,
                 num_threads: int = 2) -> Dict:
  """TFLite vs Keras on `samples` ({"image": float [H, W, 3] at the TFLite
  input size, optional "label"}) ."""
  runner = tflite_lib.TFLiteRunner(model, num_threads=num_threads)
  max_err, max_ref = 0.0, 0.0
  ours, theirs, truth = [], [], []
  for sample in samples:
    image = np.asarray(sample["image"], np.float32)[np.newaxis]
    if runner.input_dtype == np.uint8:
      image = np.round(image)  # what the uint8 model is actually given
    logits, labels = keras_reference(native_model, image, spec.input_size)
    out = runner(image)
    if "logits" in out:
      max_err = max(max_err, float(np.max(np.abs(out["logits"] - logits))))
      max_ref = max(max_ref, float(np.max(np.abs(logits))))
    if "semantic_predictions" in out:
      ours.append(out["semantic_predictions"][0])
    else:
      up = inference.resize_align_corners(
          tf.constant(out["logits"]), list(spec.input_size))
      ours.append(tf.argmax(up, -1, output_type=tf.int32).numpy()[0])
    theirs.append(labels[0])
    if sample.get("label") is not None:
      truth.append(sample["label"])
  result = {"variant": spec.variant, "images": len(samples),
            "label_agreement": _agreement(ours, theirs)}
  if max_ref > 0:
    result["logits_max_rel_diff"] = max_err / max_ref
  if truth and ignore_label is not None:
    for key, predictions in (("miou_keras", theirs), ("miou_tflite", ours)):
      result[key] = metrics.mean_iou(metrics.confusion_matrix_np(
          np.stack(truth), np.stack(predictions), num_classes, ignore_label))
    result["miou_diff"] = abs(result["miou_tflite"] - result["miou_keras"])
  result["bounds"] = dict(TFLITE_BOUNDS[spec.variant])
  result["passed"] = _within(result, result["bounds"])
  return result


def _within(result: Dict, bounds: Dict) -> bool:
  ok = result["label_agreement"] >= bounds["agreement"]
  if bounds.get("logits_rel") is not None and "logits_max_rel_diff" in result:
    ok = ok and result["logits_max_rel_diff"] <= bounds["logits_rel"]
  if bounds.get("miou_diff") is not None and "miou_diff" in result:
    ok = ok and result["miou_diff"] <= bounds["miou_diff"]
  return bool(ok)


def summarize(report: Dict) -> List[str]:
  """One line per check for the console."""
  lines = []
  for name, check in report.get("parity", {}).items():
    numbers = ", ".join("%s=%.3g" % (k, v) for k, v in sorted(check.items())
                        if isinstance(v, float))
    lines.append("%-5s %-14s %s" % ("ok" if check["passed"] else "FAIL",
                                    name, numbers))
  return lines
