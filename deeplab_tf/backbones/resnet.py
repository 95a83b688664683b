"""ResNet-v1-50/101 and their `_beta` variants (research/deeplab resnet_v1_beta).

The `_beta` variants replace the 7x7 stem by three 3x3 convs (conv1_1 s2 64,
conv1_2 64, conv1_3 128); both keep the scope `resnet_v1_{50,101}`. Every
bottleneck: 1x1 -> 3x3 (stride, atrous) -> 1x1, BN after each, ReLU after the
first two and after the residual sum; the stride sits in the last unit of
blocks 1-3; block4's unit rates are `multi_grid`. Stride-2 3x3 convs use the
reference's fixed padding, the stem max pool uses 'same'.
"""

from typing import Dict, Tuple

import keras

from deeplab_tf import layers as L
from deeplab_tf.backbones.stride_schedule import StrideSchedule

# units per block
RESNET_UNITS = {"resnet_v1_50": (3, 4, 6, 3), "resnet_v1_101": (3, 4, 23, 3)}
BASE_DEPTHS = (64, 128, 256, 512)


def resnet_scope(variant: str) -> str:
  """'resnet_v1_101_beta' -> 'resnet_v1_101' (the checkpoint scope)."""
  return variant[:-len("_beta")] if variant.endswith("_beta") else variant


def decoder_taps(variant: str) -> Dict[int, str]:
  """BN output of conv3 in the second-to-last unit of blocks 1-3."""
  units = RESNET_UNITS[resnet_scope(variant)]
  return {4 * 2**b: "block%d/unit_%d/bottleneck_v1/conv3" % (b + 1,
                                                               units[b] - 1)
          for b in range(3)}


def bottleneck(x, scope, depth, depth_bottleneck, stride, rate, bn,
               nominal_stride):
  """One `bottleneck_v1` unit; returns (output, conv3 BN output).

  Layers that exist only for a stride (the subsampling shortcut, fixed
  padding) are created from `nominal_stride`, so the layer list is the same
  at every output stride (a 1x1 stride-1 pool is the identity).
  """
  depth_in = x.shape[-1]
  if depth == depth_in:
    shortcut = x if nominal_stride == 1 else keras.layers.MaxPooling2D(
        1, strides=stride, name=L.layer_name(scope + "/shortcut"))(x)
  else:
    shortcut = L.conv_bn(x, depth, 1, scope + "/shortcut", bn=bn,
                         strides=stride, activation=None)
  y = L.conv_bn(x, depth_bottleneck, 1, scope + "/conv1", bn=bn)
  y = L.conv_bn(y, depth_bottleneck, 3, scope + "/conv2", bn=bn,
                strides=stride, rate=rate,
                padding="fixed" if nominal_stride > 1 else "same")
  conv3 = L.conv_bn(y, depth, 1, scope + "/conv3", bn=bn, activation=None)
  out = keras.layers.Add(name=L.layer_name(scope) + ".add")([shortcut, conv3])
  return L.relu(out, scope + ".relu"), conv3


def build_resnet(x, variant: str, output_stride: int,
                 multi_grid: Tuple[int, ...] = None,
                 bn: L.BatchNormSpec = L.RESNET_BN):
  """Returns (features at `output_stride`, {stride: decoder tap tensor})."""
  scope = resnet_scope(variant)
  if scope not in RESNET_UNITS:
    raise ValueError("unknown ResNet variant %r" % variant)
  if variant.endswith("_beta"):
    x = L.conv_bn(x, 64, 3, scope + "/conv1_1", bn=bn, strides=2,
                  padding="fixed")
    x = L.conv_bn(x, 64, 3, scope + "/conv1_2", bn=bn)
    x = L.conv_bn(x, 128, 3, scope + "/conv1_3", bn=bn)
  else:
    x = L.conv_bn(x, 64, 7, scope + "/conv1", bn=bn, strides=2,
                  padding="fixed")
  x = keras.layers.MaxPooling2D(3, strides=2, padding="same",
                                name=L.layer_name(scope + "/pool1"))(x)
  schedule = StrideSchedule(output_stride, initial_stride=4)
  multi_grid = tuple(multi_grid or (1, 1, 1))
  tap_names = {v: k for k, v in decoder_taps(variant).items()}
  taps = {}
  for b, num_units in enumerate(RESNET_UNITS[scope]):
    base = BASE_DEPTHS[b]
    for u in range(num_units):
      if b == 3:  # block4: stride 1, unit rates from multi_grid
        nominal_stride, unit_rate = 1, multi_grid[u]
      else:
        nominal_stride, unit_rate = (2 if u == num_units - 1 else 1), 1
      stride, rate = schedule.next(nominal_stride)
      name = "block%d/unit_%d/bottleneck_v1" % (b + 1, u + 1)
      x, conv3 = bottleneck(x, "%s/%s" % (scope, name), base * 4, base,
                            stride, rate * unit_rate, bn, nominal_stride)
      tap_stride = tap_names.get(name + "/conv3")
      if tap_stride is not None and tap_stride < output_stride:
        taps[tap_stride] = conv3
  schedule.finish()
  return x, taps
