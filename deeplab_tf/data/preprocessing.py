"""Pure per-example preprocessing for training and evaluation.

Follows the reference's `input_preprocess.preprocess_image_and_label`:
optional resize to a range, random scale (bilinear image, nearest label, both
corner-aligned, new size = int(size * scale)), pad bottom/right to the crop
(image with the mean pixel, label with the ignore label), random crop,
random left-right flip. Randomness is stateless: every function takes a
`seed` tensor of shape [2], so a seeded pipeline is reproducible whatever
the parallelism.
"""

from typing import Optional, Tuple

import tensorflow as tf

from deeplab_tf.padding import pad_image, pad_label, padded_size


def _resize_pair(image, label, size):
  """Corner-aligned bilinear image / nearest label resize to `size` [h, w]."""
  image = tf.raw_ops.ResizeBilinear(images=image[tf.newaxis], size=size,
                                    align_corners=True,
                                    half_pixel_centers=False)[0]
  label = tf.raw_ops.ResizeNearestNeighbor(images=label[tf.newaxis, ..., None],
                                           size=size, align_corners=True,
                                           half_pixel_centers=False)[0, ..., 0]
  return image, label


def resize_to_range(image, label, min_size: Optional[int] = None,
                    max_size: Optional[int] = None):
  """Resizes so the short side becomes `min_size`, unless the long side
  would then exceed `max_size`, in which case the long side becomes
  `max_size` (sizes rounded up, as the reference's `resize_to_range`)."""
  if min_size is None and max_size is None:
    return image, label
  shape = tf.cast(tf.shape(image)[:2], tf.float32)
  if min_size is None:
    size = shape
  else:
    size = tf.math.ceil(shape * (float(min_size) / tf.reduce_min(shape)))
  if max_size is not None:
    small = tf.math.ceil(shape * (float(max_size) / tf.reduce_max(shape)))
    size = tf.where(tf.reduce_max(size) > float(max_size), small, size)
  return _resize_pair(image, label, tf.cast(size, tf.int32))


def random_scale_factor(seed, min_scale: float, max_scale: float,
                        step: float):
  """A scale in [min, max]: uniform, or on the grid min + k * step."""
  if min_scale == max_scale:
    return tf.constant(float(min_scale))
  if step <= 0:
    return tf.random.stateless_uniform([], seed, min_scale, max_scale)
  num_steps = int(round((max_scale - min_scale) / step)) + 1
  index = tf.random.stateless_uniform([], seed, 0, num_steps, dtype=tf.int32)
  return min_scale + tf.cast(index, tf.float32) * step


def random_scale(image, label, scale):
  """Rescales image and label by `scale` (int(size * scale))."""
  size = tf.cast(tf.cast(tf.shape(image)[:2], tf.float32) * scale, tf.int32)
  return _resize_pair(image, label, tf.maximum(size, 1))


def preprocess_for_train(image, label, seed, *, crop_size: Tuple[int, int],
                         ignore_label: int, mean_pixel,
                         min_scale_factor: float = 0.5,
                         max_scale_factor: float = 2.0,
                         scale_factor_step_size: float = 0.25,
                         min_resize_value: Optional[int] = None,
                         max_resize_value: Optional[int] = None):
  """Training augmentation of one example.

  Args:
    image: uint8 [H, W, 3].
    label: integer [H, W].
    seed: int [2] stateless seed.
    crop_size: (crop_height, crop_width).
    ignore_label: label padding value.
    mean_pixel: image padding value (scalar or per channel).
    min_scale_factor, max_scale_factor, scale_factor_step_size: random scale.
    min_resize_value, max_resize_value: optional resize to a range first.
  Returns:
    float32 [crop_h, crop_w, 3] in [0, 255], int32 [crop_h, crop_w].
  """
  seeds = tf.random.experimental.stateless_split(seed, num=4)
  image = tf.cast(image, tf.float32)
  label = tf.cast(label, tf.int32)
  image, label = resize_to_range(image, label, min_resize_value,
                                 max_resize_value)
  scale = random_scale_factor(seeds[0], min_scale_factor, max_scale_factor,
                              scale_factor_step_size)
  image, label = random_scale(image, label, scale)
  crop_h, crop_w = crop_size
  shape = tf.shape(image)
  target_h, target_w = padded_size(shape[0], shape[1], crop_size)
  image = pad_image(image, target_h, target_w, mean_pixel)
  label = pad_label(label, target_h, target_w, ignore_label)
  offset_h = tf.random.stateless_uniform([], seeds[1], 0,
                                         target_h - crop_h + 1, tf.int32)
  offset_w = tf.random.stateless_uniform([], seeds[2], 0,
                                         target_w - crop_w + 1, tf.int32)
  image = image[offset_h:offset_h + crop_h, offset_w:offset_w + crop_w]
  label = label[offset_h:offset_h + crop_h, offset_w:offset_w + crop_w]
  flip = tf.random.stateless_uniform([], seeds[3]) < 0.5
  image = tf.cond(flip, lambda: tf.reverse(image, [1]), lambda: image)
  label = tf.cond(flip, lambda: tf.reverse(label, [1]), lambda: label)
  image = tf.ensure_shape(image, [crop_h, crop_w, 3])
  label = tf.ensure_shape(label, [crop_h, crop_w])
  return image, label
