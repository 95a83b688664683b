"""Sliding-window inference for images larger than a window.

Overlapping windows of `window_size` at `window_stride` tile the image (the
last window of a row / column is moved back to end at the border, as in
mmsegmentation's 'slide' mode); each window is padded bottom/right with the
mean pixel to the window size exactly like evaluation pads to the crop,
predicted through `inference.predict_probabilities` (so multi-scale and flip
apply per window), and its softmax is accumulated with a per-pixel weight
(1, or a Gaussian that trusts window centres more) and divided by the
accumulated weight.

Memory is bounded by the window, not the image: windows run in batches of
`batch_size` per image, and the accumulator only holds one band of rows,
[window height, strip width, classes]. A band's rows that no later window
touches are final; they are turned into labels (and, if asked for,
probabilities) and leave the accumulator. Images wider than `STRIP_WIDTH`
are cut into column strips, each run the same way; a window on a strip
border runs in both strips, so the result is the same as one pass.

Everything is TensorFlow ops (`tf.while_loop`), so the same code runs
eagerly, in `tf.function`, and in an exported SavedModel that does not need
deeplab_tf.

When one window covers the image (height and width <= the window), the
result is exactly `inference.predict_labels` with `crop_size=window_size`.
"""

import dataclasses
import math
from typing import Optional, Sequence, Tuple

import tensorflow as tf

from deeplab_tf import inference, padding
from deeplab_tf.errors import ConfigError

WEIGHTINGS = ("uniform", "gaussian")
# Gaussian window weight: sigma = window / 8 per axis (nnU-Net's choice).
GAUSSIAN_SIGMA_SCALE = 1.0 / 8.0
# The accumulator holds one band of rows at most about this many columns
# wide (plus a window): a wider image is cut into column strips whose
# border windows run in both neighbours, so memory does not grow with the
# width either, and the result is the same as one pass.
STRIP_WIDTH = 2048


@dataclasses.dataclass(frozen=True)
class SlidingWindow:
  """Window settings.

  Attributes:
    window_size: [height, width] of a window (the network's input size).
    window_stride: [height, width] step between windows; None = 2/3 of the
      window (rounded up), i.e. one third overlap. Must not exceed the
      window (pixels would be left out).
    batch_size: windows of one image run together (memory ~ batch_size x
      the activations of one window).
    weighting: 'uniform' (mean of overlapping windows) or 'gaussian'.
  """
  window_size: Tuple[int, int]
  window_stride: Optional[Tuple[int, int]] = None
  batch_size: int = 1
  weighting: str = "uniform"

  def __post_init__(self):
    window = _pair(self.window_size, "window_size")
    stride = (tuple(int(math.ceil(2 * w / 3)) for w in window)
              if self.window_stride is None
              else _pair(self.window_stride, "window_stride"))
    for axis, w, s in zip(("height", "width"), window, stride):
      if s > w:
        raise ConfigError(
            "window_stride %s is larger than window_size %s in %s: pixels "
            "between windows would get no prediction; use a stride <= the "
            "window" % (list(stride), list(window), axis))
    if int(self.batch_size) < 1:
      raise ConfigError("window batch_size must be >= 1, got %r"
                        % (self.batch_size,))
    if self.weighting not in WEIGHTINGS:
      raise ConfigError("window weighting %r: choose one of %s"
                        % (self.weighting, ", ".join(WEIGHTINGS)))
    object.__setattr__(self, "window_size", window)
    object.__setattr__(self, "window_stride", stride)
    object.__setattr__(self, "batch_size", int(self.batch_size))

  def check_output_stride(self, output_stride: int):
    """Raises ValueError if a window is smaller than the output stride."""
    if min(self.window_size) < int(output_stride):
      raise ConfigError(
          "window_size %s is smaller than the output stride %d: a window "
          "would not give even one feature; use a window of at least the "
          "output stride (typically the training crop)"
          % (list(self.window_size), int(output_stride)))


def _pair(value, name) -> Tuple[int, int]:
  if isinstance(value, (int, float)):
    value = (value, value)
  try:
    pair = tuple(int(v) for v in value)
  except (TypeError, ValueError):
    raise ConfigError("%s %r must be [height, width] integers"
                      % (name, value)) from None
  if len(pair) != 2 or min(pair) < 1:
    raise ConfigError("%s %r must be two positive integers [height, width]"
                      % (name, value))
  return pair


def window_starts(length, window: int, stride: int):
  """Start offsets along one axis: 0, s, 2s, ... with the last at L - w.

  [0] when the window covers the axis (L <= w). Works on int tensors.
  """
  length = tf.convert_to_tensor(length, tf.int32)
  count = tf.maximum((length - window + stride - 1) // stride, 0) + 1
  return tf.minimum(tf.range(count) * stride, tf.maximum(length - window, 0))


def gaussian_weight(height, width, dtype=tf.float32):
  """[height, width] Gaussian centred on the window, peak 1, sigma w/8."""
  def axis(n):
    n_f = tf.cast(n, dtype)
    x = tf.range(n_f, dtype=dtype) - (n_f - 1.0) / 2.0
    sigma = tf.maximum(n_f * GAUSSIAN_SIGMA_SCALE, 1e-3)
    return tf.exp(-0.5 * tf.square(x / sigma))
  return axis(height)[:, tf.newaxis] * axis(width)[tf.newaxis, :]


def predict_sliding(native_model, images, *, window: SlidingWindow,
                    mean_pixel, num_classes: int,
                    scales: Sequence[float] = (1.0,),
                    add_flipped_images: bool = False,
                    return_probabilities: bool = False):
  """Sliding-window labels (and probabilities) of [B, H, W, 3] images.

  Args:
    native_model: a model built with `upsample_logits=False`.
    images: uint8 or float [B, H, W, 3] RGB in [0, 255], any size.
    window: the window settings.
    mean_pixel: the padding value of windows smaller than the window.
    num_classes: classes of the model.
    scales, add_flipped_images: multi-scale / flip inference per window.
    return_probabilities: also return float32 [B, H, W, classes] (the
      image-sized output then bounds the memory, not the window).
  Returns:
    int32 labels [B, H, W], or (labels, probabilities).
  """
  run = _SlidingPass(native_model, images, window, mean_pixel, num_classes,
                     scales, add_flipped_images, return_probabilities)
  labels, probabilities = run.predict()
  if not return_probabilities:
    return labels
  return labels, probabilities


class _SlidingPass:
  """One `predict_sliding` call: its window grid and its three loops."""

  def __init__(self, native_model, images, window, mean_pixel, num_classes,
               scales, add_flipped_images, return_probabilities):
    self.native_model, self.mean_pixel = native_model, mean_pixel
    self.num_classes, self.scales = num_classes, scales
    self.add_flipped_images = add_flipped_images
    self.return_probabilities = return_probabilities
    # Kept in its own dtype (uint8: a quarter of float32): each window is
    # cast when it is cut, so no float copy of the whole image exists.
    self.images = images = tf.convert_to_tensor(images)
    shape = tf.shape(images)
    self.batch, height, self.width = shape[0], shape[1], shape[2]
    self.win_h, self.win_w = win_h, win_w = window.window_size
    # Rows / columns a window actually covers (the rest is padding).
    self.band_h = band_h = tf.minimum(height, win_h)
    self.band_w = band_w = tf.minimum(self.width, win_w)
    self.ys = window_starts(height, win_h, window.window_stride[0])
    self.xs = window_starts(self.width, win_w, window.window_stride[1])
    self.num_rows, self.num_cols = tf.size(self.ys), tf.size(self.xs)
    self.weight = (gaussian_weight(band_h, band_w)
                   if window.weighting == "gaussian"
                   else tf.ones([band_h, band_w], tf.float32))
    self.chunk = window.batch_size
    self.per_strip = max(1, STRIP_WIDTH // window.window_stride[1])

  def predict_windows(self, y, cols):
    """Probabilities * weight of windows at row y, columns cols:
    [W-window index, band_h, B, band_w, C]."""
    band_h, band_w = self.band_h, self.band_w
    rows = self.images[:, y:y + band_h]                  # [B, bh, W, 3]
    index = cols[:, tf.newaxis] + tf.range(band_w)       # [k, bw]
    crops = tf.gather(rows, index, axis=2)               # [B, bh, k, bw, 3]
    crops = tf.transpose(crops, [0, 2, 1, 3, 4])
    crops = tf.cast(tf.reshape(crops, [-1, band_h, band_w, 3]),
                    tf.float32)                           # [B*k, bh, bw, 3]
    padded = padding.pad_to_crop(crops, (self.win_h, self.win_w),
                                 self.mean_pixel)
    probs = inference.predict_probabilities(
        self.native_model, padded, scales=self.scales,
        add_flipped_images=self.add_flipped_images)[:, :band_h, :band_w]
    probs = probs * self.weight[tf.newaxis, :, :, tf.newaxis]
    probs = tf.reshape(probs,
                       [self.batch, -1, band_h, band_w, self.num_classes])
    # -> [k, bw, bh, B, C]: scattered into the accumulator along width.
    return index, tf.transpose(probs, [1, 3, 2, 0, 4])

  def add_window_row(self, y, strip_xs, x0, acc, count):
    """The window loop: adds the windows of the row starting at y whose
    columns start at strip_xs into acc [strip width, bh, B, C] (column x0
    first), `batch_size` windows at a time."""
    chunk, band_h = self.chunk, self.band_h

    def body(j, acc, count):
      cols = strip_xs[j * chunk:(j + 1) * chunk]
      index, probs = self.predict_windows(y, cols)
      flat = tf.reshape(index - x0, [-1, 1])
      acc = tf.tensor_scatter_nd_add(
          acc, flat,
          tf.reshape(probs, [-1, band_h, self.batch, self.num_classes]))
      w = tf.tile(tf.transpose(self.weight)[tf.newaxis],
                  [tf.shape(cols)[0], 1, 1])
      count = tf.tensor_scatter_nd_add(count, flat,
                                       tf.reshape(w, [-1, band_h]))
      return j + 1, acc, count
    num_chunks = (tf.size(strip_xs) + chunk - 1) // chunk
    _, acc, count = tf.while_loop(lambda j, *_: j < num_chunks, body,
                                  (tf.constant(0), acc, count))
    return acc, count

  def emit(self, acc, count, rows):
    """Labels [rows, B, w] (and probabilities [rows, B, w, C]) of the
    first `rows` accumulator rows."""
    if not self.return_probabilities:
      # The count is one positive number per pixel, so the arg max needs no
      # division: no probability-sized copy of the band is made.
      labels = tf.argmax(acc[:, :rows], -1, output_type=tf.int32)
      return tf.transpose(labels, [1, 2, 0]), None       # [rows, B, w]
    probs = acc[:, :rows] / count[:, :rows, tf.newaxis, tf.newaxis]
    probs = tf.transpose(probs, [1, 2, 0, 3])            # [rows, B, w, C]
    return tf.argmax(probs, -1, output_type=tf.int32), probs

  def accumulate_bands(self, strip_xs, x0, x1):
    """The band accumulation: labels [H, B, x1 - x0] (and probabilities)
    of image columns [x0, x1) from the windows starting at strip_xs (which
    cover them), one band of rows in the accumulator at a time."""
    ys, num_rows, band_h = self.ys, self.num_rows, self.band_h

    def row_body(i, acc, count, labels_ta, probs_ta):
      acc, count = self.add_window_row(ys[i], strip_xs, x0, acc, count)
      last = i + 1 >= num_rows
      # Rows before the next window's start are final.
      done = tf.where(last, band_h,
                      ys[tf.minimum(i + 1, num_rows - 1)] - ys[i])
      labels, probs = self.emit(acc, count, done)
      labels_ta = labels_ta.write(i, labels)
      if self.return_probabilities:
        probs_ta = probs_ta.write(i, probs)
      # Shift the final rows out, zeros in (shapes stay loop invariants).
      acc = tf.ensure_shape(
          tf.pad(acc[:, done:], [[0, 0], [0, done], [0, 0], [0, 0]]),
          acc.shape)
      count = tf.ensure_shape(tf.pad(count[:, done:], [[0, 0], [0, done]]),
                              count.shape)
      return i + 1, acc, count, labels_ta, probs_ta

    acc = tf.zeros([x1 - x0, band_h, self.batch, self.num_classes],
                   tf.float32)
    count = tf.zeros([x1 - x0, band_h], tf.float32)
    labels_ta = tf.TensorArray(tf.int32, size=num_rows, infer_shape=False)
    probs_ta = tf.TensorArray(tf.float32, size=num_rows, infer_shape=False)
    _, _, _, labels_ta, probs_ta = tf.while_loop(
        lambda i, *_: i < num_rows, row_body,
        (tf.constant(0), acc, count, labels_ta, probs_ta))
    return labels_ta.concat(), (probs_ta.concat()
                                if self.return_probabilities else None)

  def predict_strip(self, s, labels_ta, probs_ta):
    """The strip handling: strip s owns the columns from its first window's
    start to the next strip's (0 and the width at the ends); it runs every
    window touching them, so a border window runs in both strips and the
    result equals one pass over the whole width."""
    xs, num_cols, per_strip = self.xs, self.num_cols, self.per_strip
    first = s * per_strip
    end = tf.minimum(first + per_strip, num_cols)
    own0 = tf.where(s == 0, 0, xs[first])
    own1 = tf.where(end >= num_cols, self.width,
                    xs[tf.minimum(end, num_cols - 1)])
    lo = tf.reduce_sum(tf.cast(xs + self.band_w <= own0, tf.int32))
    hi = tf.reduce_sum(tf.cast(xs < own1, tf.int32))
    x0, x1 = xs[lo], xs[hi - 1] + self.band_w
    labels, probs = self.accumulate_bands(xs[lo:hi], x0, x1)
    # [H, B, w] -> the owned columns first: [owned, B, H] for the concat.
    labels_ta = labels_ta.write(s, tf.transpose(
        labels[:, :, own0 - x0:own1 - x0], [2, 1, 0]))
    if self.return_probabilities:
      probs_ta = probs_ta.write(s, tf.transpose(
          probs[:, :, own0 - x0:own1 - x0], [2, 1, 0, 3]))
    return s + 1, labels_ta, probs_ta

  def predict(self):
    """Runs the strips; (labels [B, H, W], probabilities or None)."""
    num_strips = (self.num_cols + self.per_strip - 1) // self.per_strip
    labels_ta = tf.TensorArray(tf.int32, size=num_strips, infer_shape=False)
    probs_ta = tf.TensorArray(tf.float32, size=num_strips, infer_shape=False)
    _, labels_ta, probs_ta = tf.while_loop(
        lambda s, *_: s < num_strips, self.predict_strip,
        (tf.constant(0), labels_ta, probs_ta))
    labels = tf.transpose(labels_ta.concat(), [1, 2, 0])  # [B, H, W]
    labels = tf.ensure_shape(labels, [None, None, None])
    if not self.return_probabilities:
      return labels, None
    probabilities = tf.transpose(probs_ta.concat(), [1, 2, 0, 3])
    return labels, tf.ensure_shape(probabilities,
                                   [None, None, None, self.num_classes])
