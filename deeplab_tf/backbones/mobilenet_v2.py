"""MobileNetV2 as DeepLab builds it (slim `mobilenet_v2.V2_DEF` up to layer_18).

Inverted residual units `expanded_conv[_N]`: 1x1 expand (ReLU6, absent when
the expansion equals the input depth), 3x3 depthwise (ReLU6), 1x1 linear
project; a residual add when stride is 1 and depths match. All convs use
'same' padding (no fixed padding in this backbone). The final 1280-channel
conv is not built. Widths follow `depth_multiplier` with the reference's
rounding (`_make_divisible`).
"""

from typing import Dict, Optional

import keras

from deeplab_tf import layers as L
from deeplab_tf.backbones.stride_schedule import StrideSchedule

SCOPE = "MobilenetV2"

# (expansion factor, output channels, stride) of expanded_conv, _1, ..., _16.
UNITS = ((1, 16, 1),
         (6, 24, 2), (6, 24, 1),
         (6, 32, 2), (6, 32, 1), (6, 32, 1),
         (6, 64, 2), (6, 64, 1), (6, 64, 1), (6, 64, 1),
         (6, 96, 1), (6, 96, 1), (6, 96, 1),
         (6, 160, 2), (6, 160, 1), (6, 160, 1),
         (6, 320, 1))

# Decoder taps: `layer_N/depthwise_output` (after ReLU6); layer_1 is the stem
# conv, so layer_N is unit index N - 2.
DECODER_TAP_UNITS = {4: 2, 8: 5, 16: 12}


def make_divisible(value: float, divisor: int, min_value: Optional[int] = None
                   ) -> int:
  """The reference's channel rounding (slim mobilenet `_make_divisible`)."""
  if min_value is None:
    min_value = divisor
  new_value = max(min_value, int(value + divisor / 2) // divisor * divisor)
  if new_value < 0.9 * value:  # never round down by more than 10%
    new_value += divisor
  return int(new_value)


def unit_scope(index: int) -> str:
  return "%s/expanded_conv%s" % (SCOPE, "_%d" % index if index else "")


def build_mobilenet_v2(x, output_stride: int, depth_multiplier: float = 1.0,
                       divisible_by: Optional[int] = None,
                       bn: L.BatchNormSpec = L.MOBILENET_BN):
  """Returns (features at `output_stride`, {stride: decoder tap tensor})."""
  if divisible_by is None:
    divisible_by = 8 if depth_multiplier == 1.0 else 1
  min_depth = 8 if depth_multiplier == 1.0 else 1

  def width(channels):
    return make_divisible(channels * depth_multiplier, divisible_by, min_depth)

  schedule = StrideSchedule(output_stride)
  stride, _ = schedule.next(2)
  x = L.conv_bn(x, width(32), 3, SCOPE + "/Conv", bn=bn, strides=stride,
                activation="relu6")
  taps: Dict[int, object] = {}
  tap_units = {u: s for s, u in DECODER_TAP_UNITS.items() if s < output_stride}
  for index, (expansion, channels, nominal_stride) in enumerate(UNITS):
    scope = unit_scope(index)
    stride, rate = schedule.next(nominal_stride)
    depth_in = x.shape[-1]
    # expand_input_by_factor: the first unit rounds to 1, the others to 8.
    inner = make_divisible(depth_in * expansion, 1 if index == 0 else 8)
    y = x
    if inner > depth_in:
      y = L.conv_bn(y, inner, 1, scope + "/expand", bn=bn, activation="relu6")
    y = L.depthwise_bn(y, scope + "/depthwise", bn=bn, strides=stride,
                       rate=rate, activation="relu6")
    if index in tap_units:
      taps[tap_units[index]] = y
    y = L.conv_bn(y, width(channels), 1, scope + "/project", bn=bn,
                  activation=None)
    if stride == 1 and y.shape[-1] == depth_in:
      y = keras.layers.Add(name=L.layer_name(scope) + ".add")([x, y])
    x = y
  schedule.finish()
  return x, taps
