"""The training loss of the reference (`train_utils.add_softmax_cross_entropy_
loss_for_each_scale`) and the paper's L2 weight decay.

Softmax cross-entropy over pixels whose label is not the ignore label,
weighted per class, summed and divided by the number of valid pixels. With
`top_k_percent_pixels < 1` only the hardest pixels count, ramping linearly
from all pixels to the top-k fraction over `hard_example_mining_step` steps.
Under `tf.distribute` every replica divides by the *global* number of valid
pixels, so that the replicas' losses (and gradients) sum to the loss of the
whole global batch on one device.
"""

from typing import Optional, Sequence

import keras
import tensorflow as tf

from deeplab_tf.layers import resize_align_corners


def resize_labels_nearest(labels, size):
  """Corner-aligned nearest-neighbour resize of int labels [B, H, W]."""
  resized = tf.raw_ops.ResizeNearestNeighbor(
      images=labels[..., tf.newaxis], size=size, align_corners=True,
      half_pixel_centers=False)
  return resized[..., 0]


def match_logits_and_labels(logits, labels, upsample_logits: bool):
  """Upsamples logits to the labels (bilinear, corner-aligned) or
  downsamples labels to the logits (nearest). Returns (logits, labels)."""
  logits = tf.cast(logits, tf.float32)
  if upsample_logits:
    logits = resize_align_corners(logits, tf.shape(labels)[1:3])
  else:
    labels = resize_labels_nearest(labels, tf.shape(logits)[1:3])
  return logits, labels


def pixel_weights(labels, num_classes: int, ignore_label: int,
                  label_weights: Optional[Sequence[float]] = None):
  """float32 weights [B, H, W]: class weight for valid pixels, 0 elsewhere."""
  valid = tf.logical_and(tf.not_equal(labels, ignore_label),
                         tf.logical_and(labels >= 0, labels < num_classes))
  if label_weights is None:
    return tf.cast(valid, tf.float32)
  safe = tf.where(valid, labels, tf.zeros_like(labels))
  weights = tf.gather(tf.constant(label_weights, tf.float32), safe)
  return weights * tf.cast(valid, tf.float32)


def top_k_pixel_count(num_pixels, top_k_percent_pixels: float,
                      hard_example_mining_step: int, step):
  """Pixels kept by hard-example mining at `step` (the reference's ramp)."""
  num_pixels = tf.cast(num_pixels, tf.float32)
  if hard_example_mining_step == 0:
    fraction = tf.constant(top_k_percent_pixels, tf.float32)
  else:
    ratio = tf.minimum(1.0, tf.cast(step, tf.float32)
                       / float(hard_example_mining_step))
    fraction = ratio * top_k_percent_pixels + (1.0 - ratio)
  return tf.maximum(tf.cast(fraction * num_pixels, tf.int32), 1)


def segmentation_loss_sum(logits, labels, *, num_classes: int,
                          ignore_label: int, upsample_logits: bool = True,
                          label_weights=None,
                          top_k_percent_pixels: float = 1.0,
                          hard_example_mining_step: int = 0, step=0):
  """(sum of weighted pixel losses, number of pixels it is normalised by).

  The loss of the batch is `sum / count`; both are returned so that
  distributed training can divide by the global count.
  """
  logits, labels = match_logits_and_labels(logits, labels, upsample_logits)
  labels = tf.cast(labels, tf.int32)
  weights = tf.reshape(pixel_weights(labels, num_classes, ignore_label,
                                     label_weights), [-1])
  flat_labels = tf.reshape(labels, [-1])
  safe = tf.where(weights > 0, flat_labels, tf.zeros_like(flat_labels))
  safe = tf.clip_by_value(safe, 0, num_classes - 1)
  pixel_losses = tf.nn.sparse_softmax_cross_entropy_with_logits(
      labels=safe, logits=tf.reshape(logits, [-1, num_classes]))
  weighted = pixel_losses * weights
  if top_k_percent_pixels >= 1.0:
    valid = tf.cast(tf.not_equal(weights, 0.0), tf.float32)
    return tf.reduce_sum(weighted), tf.reduce_sum(valid)
  k = top_k_pixel_count(tf.size(weighted), top_k_percent_pixels,
                        hard_example_mining_step, step)
  top, _ = tf.math.top_k(weighted, k=k, sorted=False)
  return tf.reduce_sum(top), tf.reduce_sum(
      tf.cast(tf.not_equal(top, 0.0), tf.float32))


def segmentation_loss(logits, labels, **kwargs):
  """Mean weighted cross-entropy over valid (or top-k) pixels; 0 if none."""
  total, count = segmentation_loss_sum(logits, labels, **kwargs)
  return tf.math.divide_no_nan(total, count)


def decayed_kernels(model: keras.Model):
  """Kernels that get L2 weight decay: every Conv2D kernel (the logits
  included), no depthwise kernel, BN parameter or bias (as the reference's
  slim arg_scope with `regularize_depthwise=False`)."""
  kernels = []
  for layer in model.layers:
    if isinstance(layer, keras.layers.Conv2D) and not isinstance(
        layer, keras.layers.DepthwiseConv2D):
      kernels.append(layer.kernel)
  return kernels


def weight_decay_loss(kernels, weight_decay: float):
  """weight_decay * sum(||w||^2) / 2 (slim's l2_regularizer)."""
  if not kernels or weight_decay == 0:
    return tf.constant(0.0, tf.float32)
  return weight_decay * tf.add_n(
      [tf.nn.l2_loss(tf.cast(k, tf.float32)) for k in kernels])
