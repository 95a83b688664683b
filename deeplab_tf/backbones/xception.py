"""Modified aligned Xception-41/65/71 (paper Sec. 3.2, Fig. 4).

Changes from Chollet's Xception, as in the paper and the reference:
max pooling replaced by stride-2 separable convs, BatchNorm after every
depthwise conv, deeper middle flow (and a deeper entry flow for -71).
Inside a unit (`xception_module`): ReLU before each separable conv, then
depthwise -> BN -> pointwise -> BN; the exit flow's last block has no ReLU
in front but ReLU after both BNs. The shortcut and the residual sum use the
unit input *before* that first ReLU. Stride-2 convs use fixed padding.
"""

import collections
from typing import Dict, Tuple

import keras

from deeplab_tf import layers as L
from deeplab_tf.backbones.stride_schedule import StrideSchedule

# One row per block: scope, depths of the 3 separable convs, skip type,
# stride, number of units, ReLU inside the separable convs (vs. in front).
Block = collections.namedtuple(
    "Block", "scope depths skip stride num_units activation_in_separable")


def _entry_flow(variant):
  if variant == "xception_71":
    return [
        Block("entry_flow/block1", (128,) * 3, "conv", 2, 1, False),
        Block("entry_flow/block2", (256,) * 3, "conv", 1, 1, False),
        Block("entry_flow/block3", (256,) * 3, "conv", 2, 1, False),
        Block("entry_flow/block4", (728,) * 3, "conv", 1, 1, False),
        Block("entry_flow/block5", (728,) * 3, "conv", 2, 1, False),
    ]
  return [
      Block("entry_flow/block1", (128,) * 3, "conv", 2, 1, False),
      Block("entry_flow/block2", (256,) * 3, "conv", 2, 1, False),
      Block("entry_flow/block3", (728,) * 3, "conv", 2, 1, False),
  ]


def xception_blocks(variant: str):
  """The block table of `variant` (xception_41, xception_65, xception_71)."""
  middle_units = {"xception_41": 8, "xception_65": 16, "xception_71": 16}
  if variant not in middle_units:
    raise ValueError("unknown Xception variant %r" % variant)
  return _entry_flow(variant) + [
      Block("middle_flow/block1", (728,) * 3, "sum", 1,
            middle_units[variant], False),
      Block("exit_flow/block1", (728, 1024, 1024), "conv", 2, 1, False),
      Block("exit_flow/block2", (1536, 1536, 2048), "none", 1, 1, True),
  ]


# Decoder taps (feature_extractor.py, networks_to_feature_maps): the BN
# output of `separable_conv2_pointwise`, before any ReLU.
_TAP = "/unit_1/xception_module/separable_conv2_pointwise"
DECODER_TAPS = {
    "xception_41": {4: "entry_flow/block2" + _TAP,
                    8: "entry_flow/block3" + _TAP,
                    16: "exit_flow/block1" + _TAP},
    "xception_65": {4: "entry_flow/block2" + _TAP,
                    8: "entry_flow/block3" + _TAP,
                    16: "exit_flow/block1" + _TAP},
    "xception_71": {4: "entry_flow/block3" + _TAP,
                    8: "entry_flow/block5" + _TAP,
                    16: "exit_flow/block1" + _TAP},
}


def xception_module(x, scope, depths, skip, stride, rate, unit_rates,
                    activation_in_separable, bn, nominal_stride=None):
  """One unit; returns (output, {scope of each pointwise: its BN output}).

  `nominal_stride` (the block's stride before the output-stride schedule)
  decides where fixed padding goes, so the layers do not depend on the
  output stride.
  """
  nominal_stride = stride if nominal_stride is None else nominal_stride
  residual = x
  taps = {}
  for i in range(3):
    conv_scope = "%s/separable_conv%d" % (scope, i + 1)
    if not activation_in_separable:
      residual = L.relu(residual, conv_scope + ".relu_in")
    residual = L.split_separable_conv_bn(
        residual, depths[i], conv_scope, bn=bn,
        strides=stride if i == 2 else 1, rate=rate * unit_rates[i],
        activation="relu" if activation_in_separable else None,
        padding="fixed" if i == 2 and nominal_stride > 1 else "same")
    taps[conv_scope + "_pointwise"] = residual
  if skip == "conv":
    shortcut = L.conv_bn(x, depths[-1], 1, scope + "/shortcut", bn=bn,
                         strides=stride, activation=None)
    out = keras.layers.Add(name=L.layer_name(scope) + ".add")(
        [residual, shortcut])
  elif skip == "sum":
    out = keras.layers.Add(name=L.layer_name(scope) + ".add")([residual, x])
  else:
    out = residual
  return out, taps


def build_xception(x, variant: str, output_stride: int,
                   multi_grid: Tuple[int, ...] = None,
                   bn: L.BatchNormSpec = L.XCEPTION_BN
                   ) -> Tuple[object, Dict[int, object]]:
  """Builds the backbone on `x` (already normalised).

  Returns (features at `output_stride`, {stride: decoder tap tensor}).
  """
  multi_grid = tuple(multi_grid or (1, 1, 1))
  scope = variant
  x = L.conv_bn(x, 32, 3, scope + "/entry_flow/conv1_1", bn=bn, strides=2,
                padding="fixed")
  x = L.conv_bn(x, 64, 3, scope + "/entry_flow/conv1_2", bn=bn)
  schedule = StrideSchedule(output_stride, initial_stride=2)
  all_taps = {}
  for block in xception_blocks(variant):
    unit_rates = multi_grid if block.scope == "exit_flow/block2" else (1, 1, 1)
    for u in range(block.num_units):
      stride, rate = schedule.next(block.stride)
      unit_scope = "%s/%s/unit_%d/xception_module" % (scope, block.scope,
                                                      u + 1)
      x, taps = xception_module(x, unit_scope, block.depths, block.skip,
                                stride, rate, unit_rates,
                                block.activation_in_separable, bn,
                                nominal_stride=block.stride)
      all_taps.update(taps)
  schedule.finish()
  decoder_taps = {s: all_taps["%s/%s" % (scope, name)]
                  for s, name in DECODER_TAPS[variant].items()
                  if s < output_stride}
  return x, decoder_taps
