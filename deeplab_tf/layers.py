"""Building blocks shared by the backbones and the head.

Numerics are decided here, once:
  * strided convs of Xception / ResNet use the reference's *fixed* padding
    (pad (k_eff - 1) // 2 before, the rest after, then VALID), which differs
    from 'same' at even input sizes; MobileNetV2 uses plain 'same';
  * every bilinear resize of features and logits is corner-aligned
    (`align_corners=True`), as in the reference graph;
  * Keras layer names cannot contain '/', so a TF1 scope `a/b/c` becomes the
    layer name `a.b.c` (`layer_name`, `scope_of`); BatchNorm of conv `s` is
    the layer `s.BatchNorm`.
"""

import dataclasses
from typing import Optional

import keras
import tensorflow as tf

from deeplab_tf.config import IMAGENET_MEAN_RGB

SCOPE_SEPARATOR = "."


def layer_name(scope: str) -> str:
  """Keras layer name of a TF1 variable scope."""
  return scope.replace("/", SCOPE_SEPARATOR)


def scope_of(name: str) -> str:
  """TF1 variable scope of a Keras layer name (inverse of `layer_name`)."""
  return name.replace(SCOPE_SEPARATOR, "/")


@dataclasses.dataclass(frozen=True)
class BatchNormSpec:
  """BatchNorm settings of one component (reference README, 'BN')."""
  epsilon: float
  momentum: float  # the TF1 'decay'
  synchronized: bool = False


# Reference settings (variables/*.json 'batch_norm').
XCEPTION_BN = BatchNormSpec(epsilon=1e-3, momentum=0.9997)
MOBILENET_BN = BatchNormSpec(epsilon=1e-3, momentum=0.997)
RESNET_BN = BatchNormSpec(epsilon=1e-5, momentum=0.95)
HEAD_BN = BatchNormSpec(epsilon=1e-5, momentum=0.9997)


def _activation(x, activation: Optional[str], scope: str):
  if activation is None:
    return x
  if activation == "relu":
    return keras.layers.ReLU(name=layer_name(scope) + ".relu")(x)
  if activation == "relu6":
    return keras.layers.ReLU(max_value=6.0,
                             name=layer_name(scope) + ".relu6")(x)
  raise ValueError("unknown activation %r" % activation)


def relu(x, name: str):
  """A ReLU with an explicit (unique) layer name."""
  return keras.layers.ReLU(name=layer_name(name))(x)


def batch_norm(x, scope: str, bn: BatchNormSpec):
  return keras.layers.BatchNormalization(
      epsilon=bn.epsilon, momentum=bn.momentum, synchronized=bn.synchronized,
      name=layer_name(scope + "/BatchNorm"))(x)


def fixed_padding(x, kernel_size: int, rate: int, scope: str):
  """Pads like the reference's `fixed_padding` (independent of input size)."""
  k_eff = kernel_size + (kernel_size - 1) * (rate - 1)
  pad_total = k_eff - 1
  beg = pad_total // 2
  end = pad_total - beg
  return keras.layers.ZeroPadding2D(((beg, end), (beg, end)),
                                    name=layer_name(scope) + ".pad")(x)


def _padding(x, kernel_size, rate, padding, scope):
  """Returns (x, keras_padding) for 'same' or 'fixed' padding.

  'fixed' always pads explicitly, also when an output stride turned the
  layer's stride to 1 (then it equals 'same' for odd kernels): the layer list
  must not depend on the output stride, so that checkpoints restore across
  output strides.
  """
  if padding == "fixed" and kernel_size > 1:
    return fixed_padding(x, kernel_size, rate, scope), "valid"
  if padding not in ("same", "fixed"):
    raise ValueError("padding must be 'same' or 'fixed', got %r" % padding)
  return x, "same"


def conv_bn(x, filters: int, kernel_size: int, scope: str, *,
            bn: Optional[BatchNormSpec], strides: int = 1, rate: int = 1,
            activation: Optional[str] = "relu", padding: str = "same",
            use_bias: bool = False, kernel_initializer="he_normal"):
  """Conv2D (`scope/weights`) [+ BatchNorm (`scope/BatchNorm`)] [+ act]."""
  x, pad = _padding(x, kernel_size, rate, padding, scope)
  x = keras.layers.Conv2D(
      filters, kernel_size, strides=strides, padding=pad, dilation_rate=rate,
      use_bias=use_bias, kernel_initializer=kernel_initializer,
      name=layer_name(scope))(x)
  if bn is not None:
    x = batch_norm(x, scope, bn)
  return _activation(x, activation, scope)


def depthwise_bn(x, scope: str, *, bn: BatchNormSpec, kernel_size: int = 3,
                 strides: int = 1, rate: int = 1,
                 activation: Optional[str] = "relu", padding: str = "same"):
  """DepthwiseConv2D (`scope/depthwise_weights`) + BatchNorm [+ act].

  Atrous depthwise convolution is `DepthwiseConv2D(dilation_rate=rate)`.
  """
  x, pad = _padding(x, kernel_size, rate, padding, scope)
  x = keras.layers.DepthwiseConv2D(
      kernel_size, strides=strides, padding=pad, dilation_rate=rate,
      depth_multiplier=1, use_bias=False, depthwise_initializer="he_normal",
      name=layer_name(scope))(x)
  x = batch_norm(x, scope, bn)
  return _activation(x, activation, scope)


def split_separable_conv_bn(x, filters: int, scope: str, *,
                            bn: BatchNormSpec, rate: int = 1, strides: int = 1,
                            activation: Optional[str] = "relu",
                            padding: str = "same"):
  """Atrous separable conv as the reference builds it: two scopes,
  `scope_depthwise` (3x3 depthwise, BN, act) and `scope_pointwise` (1x1, BN,
  act)."""
  y = depthwise_bn(x, scope + "_depthwise", bn=bn, strides=strides, rate=rate,
                   activation=activation, padding=padding)
  return conv_bn(y, filters, 1, scope + "_pointwise", bn=bn,
                 activation=activation)


@keras.saving.register_keras_serializable(package="deeplab_tf")
class ResizeBilinearAlignCorners(keras.layers.Layer):
  """Bilinear resize of `inputs[0]` to the spatial size of `inputs[1]`.

  Uses `align_corners=True` like every resize in the reference graph (half-
  pixel resizing changes the logits by ~0.3 of their scale). Works for any,
  also dynamic, sizes; the result is cast back to the layer's compute dtype
  (the TF kernel always returns float32).
  """

  def call(self, inputs):
    x, reference = inputs
    size = tf.shape(reference)[1:3]
    y = tf.compat.v1.image.resize_bilinear(x, size, align_corners=True)
    return tf.cast(y, self.compute_dtype)

  def compute_output_shape(self, input_shapes):
    x_shape, ref_shape = input_shapes
    return (x_shape[0], ref_shape[1], ref_shape[2], x_shape[3])


def resize_align_corners(x, size):
  """Function form: bilinear, corner-aligned resize of a tensor to `size`."""
  y = tf.compat.v1.image.resize_bilinear(x, size, align_corners=True)
  return tf.cast(y, x.dtype)


@keras.saving.register_keras_serializable(package="deeplab_tf")
class InputNormalization(keras.layers.Layer):
  """The backbone's own input normalisation of float RGB in [0, 255].

  'zero_mean_unit_range': x * 2/255 - 1 (Xception, MobileNetV2, ResNet beta);
  'subtract_imagenet_mean': x - [123.15, 115.90, 103.06] (plain ResNet).
  Always computed in float32; the next layer casts to the compute dtype.
  """

  MODES = ("zero_mean_unit_range", "subtract_imagenet_mean")

  def __init__(self, mode: str = "zero_mean_unit_range", **kwargs):
    kwargs.setdefault("dtype", "float32")
    super().__init__(**kwargs)
    if mode not in self.MODES:
      raise ValueError("mode must be one of %s, got %r" % (self.MODES, mode))
    self.mode = mode

  def call(self, x):
    x = tf.cast(x, tf.float32)
    if self.mode == "zero_mean_unit_range":
      return (2.0 / 255.0) * x - 1.0
    return x - tf.constant(IMAGENET_MEAN_RGB, tf.float32)

  def compute_output_shape(self, input_shape):
    return input_shape

  def get_config(self):
    return {**super().get_config(), "mode": self.mode}
