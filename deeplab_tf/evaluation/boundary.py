"""Boundary accuracy (paper section 4.4): mIoU inside trimap bands.

The band of width w is the set of labelled pixels within w pixels
(Chebyshev distance, i.e. a (2w+1) x (2w+1) window) of a void-labelled pixel;
VOC-style annotations mark object boundaries as void, so the band measures
accuracy near boundaries. Pixels outside the original image (eval padding)
never count, neither as void nor inside a band.
"""

from typing import Sequence

import numpy as np
import tensorflow as tf

from deeplab_tf.evaluation.metrics import confusion_matrix


def trimap_band(labels, ignore_label: int, width: int, valid_region=None):
  """bool [B, H, W]: non-void pixels within `width` of a void pixel.

  Args:
    labels: int [B, H, W].
    ignore_label: the void label.
    width: band half-width in pixels (>= 1).
    valid_region: optional bool [B, H, W], the unpadded image area.
  """
  labels = tf.convert_to_tensor(labels)
  void = tf.equal(labels, ignore_label)
  if valid_region is not None:
    void = tf.logical_and(void, valid_region)
  near = tf.nn.max_pool2d(tf.cast(void, tf.float32)[..., tf.newaxis],
                          ksize=2 * width + 1, strides=1, padding="SAME")
  band = tf.logical_and(near[..., 0] > 0, tf.logical_not(void))
  if valid_region is not None:
    band = tf.logical_and(band, valid_region)
  return band


def trimap_band_np(labels, ignore_label: int, width: int) -> np.ndarray:
  """NumPy twin of `trimap_band` for one [H, W] label map (for tests)."""
  labels = np.asarray(labels)
  void = labels == ignore_label
  h, w = void.shape
  padded = np.pad(void, width)
  near = np.zeros_like(void)
  for dy in range(2 * width + 1):
    for dx in range(2 * width + 1):
      near |= padded[dy:dy + h, dx:dx + w]
  return near & ~void


def valid_region_mask(shape, heights, widths):
  """bool [B, Hp, Wp]: True inside each example's original H x W."""
  rows = tf.range(shape[1])[tf.newaxis, :, tf.newaxis]
  cols = tf.range(shape[2])[tf.newaxis, tf.newaxis, :]
  return tf.logical_and(rows < tf.reshape(heights, [-1, 1, 1]),
                        cols < tf.reshape(widths, [-1, 1, 1]))


def trimap_confusions(labels, predictions, *, num_classes: int,
                      ignore_label: int, widths: Sequence[int],
                      valid_region=None):
  """[len(widths), C, C] confusion matrices inside each band."""
  return tf.stack([
      confusion_matrix(labels, predictions, num_classes, ignore_label,
                       mask=trimap_band(labels, ignore_label, w,
                                        valid_region))
      for w in widths])
