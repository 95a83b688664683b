"""The reference's inference path, shared by eval.py, export.py and the
TF1 parity checks.

uint8/float RGB -> pad bottom/right to the crop with the mean pixel
(`padding.pad_to_crop`; image pooling sees the padding) -> model
at native stride -> per scale: corner-aligned bilinear resize of the logits
to the padded size, softmax, mean over scales and flips -> argmax -> crop back
to the original H x W. Multi-scale inputs are resized (corner-aligned) to
`scale_dimension(size, scale) = int((size - 1) * scale + 1)` like the
reference's `multi_scale_logits`.
"""

from typing import Sequence, Tuple

import tensorflow as tf

from deeplab_tf import padding
from deeplab_tf.layers import resize_align_corners


def scale_dimension(dim, scale: float):
  """int((dim - 1) * scale + 1) for Python ints or int tensors."""
  if isinstance(dim, int):
    return int((float(dim) - 1.0) * scale + 1.0)
  return tf.cast((tf.cast(dim, tf.float32) - 1.0) * scale + 1.0, tf.int32)


def predict_probabilities(native_model, images, *,
                          scales: Sequence[float] = (1.0,),
                          add_flipped_images: bool = False):
  """Mean softmax over scales (and left-right flips) at the input size.

  Args:
    native_model: a model built with `upsample_logits=False`.
    images: float32 [B, H, W, 3] in [0, 255], already padded to the crop.
    scales: input scales (the paper's multi-scale: 0.5 ... 1.75).
    add_flipped_images: also run the left-right flipped input.
  Returns:
    float32 [B, H, W, num_classes].
  """
  images = tf.cast(images, tf.float32)
  size = tf.shape(images)[1:3]
  probabilities = []
  for scale in scales:
    x = images
    if scale != 1.0:
      x = resize_align_corners(
          images, [scale_dimension(size[0], scale),
                   scale_dimension(size[1], scale)])
    for flip in ((False, True) if add_flipped_images else (False,)):
      logits = native_model(tf.reverse(x, [2]) if flip else x,
                            training=False)
      logits = tf.cast(logits, tf.float32)
      if flip:
        logits = tf.reverse(logits, [2])
      logits = resize_align_corners(logits, size)
      probabilities.append(tf.nn.softmax(logits))
  return tf.add_n(probabilities) / float(len(probabilities))


def predict_labels(native_model, images, *, crop_size: Tuple[int, int],
                   mean_pixel, scales: Sequence[float] = (1.0,),
                   add_flipped_images: bool = False):
  """Reference inference: pad, predict, argmax, crop back. int32 [B, H, W]."""
  images = tf.cast(images, tf.float32)
  shape = tf.shape(images)
  padded = padding.pad_to_crop(images, crop_size, mean_pixel)
  probabilities = predict_probabilities(
      native_model, padded, scales=scales,
      add_flipped_images=add_flipped_images)
  labels = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
  return labels[:, :shape[1], :shape[2]]
