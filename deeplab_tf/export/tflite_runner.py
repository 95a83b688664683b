"""Runs an exported TFLite model on frames of any size (no TensorFlow needed).

A TFLite model has one static input `[1, H, W, 3]` (the size export chose,
`--tflite_input_size`). `TFLiteSegmenter` fits any frame to it the way the
model was evaluated:

  * 'pad': a frame up to H x W is padded bottom/right with the mean pixel
    (the value that becomes 0 after the model's input normalisation) and the
    labels are cropped back: exactly evaluation's single-scale result;
  * 'resize': the frame is scaled (aspect ratio kept) to fit H x W, padded,
    and the labels are scaled back with nearest neighbour: one run per
    frame, coarser detail;
  * 'tile': the frame is cut into H x W tiles (the last row/column padded),
    each run as in 'pad', and the labels are stitched: full detail, one run
    per tile;
  * 'auto' (default): 'pad' when the frame fits, else 'tile'.

Outputs are reached by the names of the model's signature (never the
converter's `PartitionedCall:0`): `labels(frame)` gives int32 [h, w] class
ids, `logits(frame)` the float32 native-stride logits of a frame that fits,
`outputs(image)` the raw dict of one input-size image.

  from deeplab_tf.export.tflite_runner import TFLiteSegmenter
  seg = TFLiteSegmenter("serving/deeplab/deeplab_int8_361x481.tflite")
  labels = seg.labels(frame)          # frame: uint8 [360, 480, 3] RGB
"""

import contextlib
import os
from typing import Dict, Sequence, Tuple, Union

import numpy as np

INPUT_NAME = "images"
LABELS = "semantic_predictions"
LOGITS = "logits"
MODES = ("auto", "pad", "resize", "tile")
# The padding value of the models whose input normalisation is x*2/255-1
# (Xception, MobileNetV2, ResNet *_beta); plain ResNet-v1 pads with the
# ImageNet mean (123.15, 115.90, 103.06): pass it as `mean_pixel`.
DEFAULT_MEAN_PIXEL = (127.5, 127.5, 127.5)


@contextlib.contextmanager
def _quiet_native_stderr():
  """Hides the runtime's C++ start-up line ("Created TensorFlow Lite
  XNNPACK delegate") unless TF_CPP_MIN_LOG_LEVEL asks for info (< 2)."""
  try:
    level = int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0"))
  except ValueError:
    level = 0
  if level < 2:
    yield
    return
  saved = os.dup(2)
  try:
    with open(os.devnull, "w") as null:
      os.dup2(null.fileno(), 2)
      yield
  finally:
    os.dup2(saved, 2)
    os.close(saved)


def make_interpreter(model: Union[bytes, str], num_threads: int = 2,
                     default_delegates: bool = True):
  """An ai-edge-litert interpreter of model bytes or a .tflite path."""
  from ai_edge_litert import interpreter as litert  # pylint: disable=g-import-not-at-top
  resolver = (litert.OpResolverType.AUTO if default_delegates else
              litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
  source = ({"model_content": model} if isinstance(model, bytes)
            else {"model_path": str(model)})
  with _quiet_native_stderr():
    interpreter = litert.Interpreter(
        num_threads=num_threads, experimental_op_resolver_type=resolver,
        **source)
    interpreter.allocate_tensors()
  return interpreter


def _resize_align_corners(x: np.ndarray, size: Sequence[int]) -> np.ndarray:
  """Bilinear [h, w, c] -> [H, W, c] with corners aligned (the model's own
  upsampling of logits), in numpy."""
  def axis(n_in, n_out):
    pos = (np.arange(n_out) * ((n_in - 1) / (n_out - 1)) if n_out > 1
           else np.zeros(1))
    lo = np.minimum(np.floor(pos).astype(int), n_in - 1)
    hi = np.minimum(lo + 1, n_in - 1)
    return lo, hi, (pos - lo)[:, None]
  y0, y1, fy = axis(x.shape[0], size[0])
  x0, x1, fx = axis(x.shape[1], size[1])
  rows = x[y0] * (1 - fy[..., None]) + x[y1] * fy[..., None]
  return rows[:, x0] * (1 - fx) + rows[:, x1] * fx


class TFLiteSegmenter:
  """A TFLite DeepLab model on frames of any size (see the module doc)."""

  def __init__(self, model: Union[bytes, str], *,
               mean_pixel: Sequence[float] = DEFAULT_MEAN_PIXEL,
               num_threads: int = 2):
    self.interpreter = make_interpreter(model, num_threads)
    self._run = self.interpreter.get_signature_runner()
    details = self._run.get_input_details()[INPUT_NAME]
    self.input_dtype = np.dtype(details["dtype"])
    self.input_size: Tuple[int, int] = tuple(int(v) for v in
                                             details["shape"][1:3])
    self.output_names = tuple(sorted(self._run.get_output_details()))
    self.mean_pixel = np.asarray(mean_pixel, np.float32).reshape(3)

  def outputs(self, image) -> Dict[str, np.ndarray]:
    """{output name: array without the batch axis} of one [H, W, 3] RGB
    image (0..255) of exactly the input size."""
    image = np.asarray(image)
    if image.shape != self.input_size + (3,):
      raise ValueError("input must be %dx%dx3, got %s (use labels(), which "
                       "pads, resizes or tiles any frame)"
                       % (self.input_size + (image.shape,)))
    if self.input_dtype == np.uint8:
      image = np.clip(np.round(image), 0, 255).astype(np.uint8)
    else:
      image = image.astype(self.input_dtype)
    out = self._run(**{INPUT_NAME: image[np.newaxis]})
    return {name: value[0] for name, value in out.items()}

  def pad(self, frame) -> np.ndarray:
    """A frame up to the input size, padded bottom/right with the mean."""
    frame = np.asarray(frame, np.float32)
    h, w = frame.shape[:2]
    if h > self.input_size[0] or w > self.input_size[1]:
      raise ValueError(
          "frame %dx%d is larger than the model input %dx%d: use "
          "mode='tile' or 'resize', or export with --tflite_input_size=%d,%d"
          % ((h, w) + self.input_size + (h, w)))
    padded = np.empty(self.input_size + (3,), np.float32)
    padded[...] = self.mean_pixel
    padded[:h, :w] = frame[..., :3]
    return padded

  def _labels_of(self, image) -> np.ndarray:
    out = self.outputs(image)
    if LABELS in out:
      return out[LABELS].astype(np.int32)
    up = _resize_align_corners(out[LOGITS].astype(np.float32),
                               self.input_size)
    return np.argmax(up, axis=-1).astype(np.int32)

  def labels(self, frame, mode: str = "auto") -> np.ndarray:
    """int32 [h, w] class ids of an RGB frame [h, w, 3] (0..255)."""
    if mode not in MODES:
      raise ValueError("mode %r: choose one of %s" % (mode, ", ".join(MODES)))
    frame = np.asarray(frame)
    h, w = frame.shape[:2]
    fits = h <= self.input_size[0] and w <= self.input_size[1]
    if mode == "pad" or (mode == "auto" and fits):
      return self._labels_of(self.pad(frame))[:h, :w]
    if mode == "resize":
      return self._resized_labels(frame)
    return self._tiled_labels(frame)

  def logits(self, frame) -> np.ndarray:
    """float32 native-stride logits of a frame up to the input size (padded
    like evaluation; the padding's share of the grid is not cropped)."""
    if LOGITS not in self.output_names:
      raise ValueError("this model has no 'logits' output (export with "
                       "--tflite_outputs=logits or both)")
    return self.outputs(self.pad(frame))[LOGITS]

  def _resized_labels(self, frame) -> np.ndarray:
    from PIL import Image  # pylint: disable=g-import-not-at-top
    h, w = frame.shape[:2]
    scale = min(self.input_size[0] / h, self.input_size[1] / w)
    sh, sw = max(1, int(round(h * scale))), max(1, int(round(w * scale)))
    small = Image.fromarray(np.clip(frame, 0, 255).astype(np.uint8)[..., :3])
    small = np.asarray(small.resize((sw, sh), Image.BILINEAR), np.float32)
    labels = self._labels_of(self.pad(small))[:sh, :sw]
    back = Image.fromarray(labels.astype(np.int32)).resize((w, h),
                                                           Image.NEAREST)
    return np.asarray(back, np.int32)

  def _tiled_labels(self, frame) -> np.ndarray:
    h, w = frame.shape[:2]
    th, tw = self.input_size
    labels = np.empty((h, w), np.int32)
    for y in range(0, h, th):
      for x in range(0, w, tw):
        tile = frame[y:y + th, x:x + tw]
        labels[y:y + th, x:x + tw] = self._labels_of(self.pad(tile))[
            :tile.shape[0], :tile.shape[1]]
    return labels
