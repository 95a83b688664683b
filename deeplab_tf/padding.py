"""Padding bottom/right to the crop: images with the mean pixel, labels
with the ignore label.

Reference: `input_preprocess.preprocess_image_and_label` pads the image with
the mean pixel (the value the model's input normalisation maps to 0) and the
label with the ignore label, bottom/right only, to at least the crop. Every
path pads this way: training (before the random crop), evaluation (after
batching, per image), inference and the SavedModel (`pad_to_crop`), sliding
windows, the export parity checks. Image pooling sees the padding, so padded
and unpadded inference differ.
"""

from typing import Tuple

import tensorflow as tf


def mean_pixel_value(mean_pixel) -> Tuple[float, float, float]:
  """The per-channel RGB padding value of a scalar, 1- or 3-value mean."""
  if isinstance(mean_pixel, (int, float)):
    return (float(mean_pixel),) * 3
  mean = tuple(float(m) for m in mean_pixel)
  return mean * 3 if len(mean) == 1 else mean


def padded_size(height, width, crop_size: Tuple[int, int]):
  """The size an image is padded to: at least the crop, never smaller."""
  return tf.maximum(height, crop_size[0]), tf.maximum(width, crop_size[1])


def pad_image(images, height, width, mean_pixel):
  """Pads [H, W, 3] or [B, H, W, 3] bottom/right to (height, width) with
  the mean pixel, in the images' own dtype.

  The image is padded with 0 and the mean added where a mask padded with 1
  is set: exact for any dtype and any value (x + 0 inside, 0 + mean
  outside), with ops every export format has (Pad, Mul, Add).
  """
  images = tf.convert_to_tensor(images)
  shape = tf.shape(images)
  rank = images.shape.rank
  grow = [[0, height - shape[rank - 3]], [0, width - shape[rank - 2]]]
  padded = tf.pad(images, [[0, 0]] * (rank - 3) + grow + [[0, 0]])
  outside = tf.pad(tf.zeros(shape[rank - 3:rank - 1], images.dtype), grow,
                   constant_values=1)
  mean = tf.cast(tf.constant(mean_pixel_value(mean_pixel)), images.dtype)
  return padded + outside[..., tf.newaxis] * mean


def pad_to_crop(images, crop_size: Tuple[int, int], mean_pixel):
  """Pads [B, H, W, 3] (or [H, W, 3]) bottom/right to >= crop_size with the
  mean pixel (`padded_size`)."""
  images = tf.convert_to_tensor(images)
  shape = tf.shape(images)
  rank = images.shape.rank
  height, width = padded_size(shape[rank - 3], shape[rank - 2], crop_size)
  return pad_image(images, height, width, mean_pixel)


def pad_label(label, height, width, ignore_label: int):
  """Pads [H, W] bottom/right to (height, width) with the ignore label."""
  shape = tf.shape(label)
  return tf.pad(label, [[0, height - shape[0]], [0, width - shape[1]]],
                constant_values=tf.cast(ignore_label, label.dtype))


def pad_for_eval(image, label, crop_size: Tuple[int, int],
                 ignore_label: int):
  """Evaluation's padding of one example: uint8 image (with 0) and int32
  label (with the ignore label) to >= crop_size.

  The image's padding, and what batching adds, become the mean pixel after
  batching (`fill_image_padding`: one per-channel fill per batch).
  """
  shape = tf.shape(image)
  height, width = padded_size(shape[0], shape[1], crop_size)
  image = tf.pad(image, [[0, height - shape[0]], [0, width - shape[1]],
                         [0, 0]])
  label = pad_label(tf.cast(label, tf.int32), height, width, ignore_label)
  return image, label


def fill_image_padding(images, heights, widths, mean_pixel):
  """float32 [B, Hp, Wp, 3] with the mean pixel outside each H x W."""
  images = tf.cast(images, tf.float32)
  shape = tf.shape(images)
  rows = tf.range(shape[1])[tf.newaxis, :, tf.newaxis]
  cols = tf.range(shape[2])[tf.newaxis, tf.newaxis, :]
  inside = ((rows < heights[:, tf.newaxis, tf.newaxis])
            & (cols < widths[:, tf.newaxis, tf.newaxis]))
  mean = tf.constant(mean_pixel_value(mean_pixel), tf.float32)
  return tf.where(inside[..., tf.newaxis], images, mean)
