"""Backbone registry: model_variant -> builder of (features, decoder taps)."""

import dataclasses

from deeplab_tf import config as C
from deeplab_tf import layers as L
from deeplab_tf.backbones.mobilenet_v2 import build_mobilenet_v2
from deeplab_tf.backbones.resnet import build_resnet
from deeplab_tf.backbones.xception import build_xception


def build_backbone(x, opts: "C.ModelOptions", sync_batch_norm: bool = False):
  """Builds opts.model_variant on the normalised input `x`.

  Returns (features at opts.output_stride, {stride: low-level tap}).
  """
  v = opts.model_variant
  if v in C.XCEPTION_VARIANTS:
    bn = dataclasses.replace(L.XCEPTION_BN, synchronized=sync_batch_norm)
    return build_xception(x, v, opts.output_stride, opts.multi_grid, bn)
  if v in C.RESNET_VARIANTS:
    bn = dataclasses.replace(L.RESNET_BN, synchronized=sync_batch_norm)
    return build_resnet(x, v, opts.output_stride, opts.multi_grid, bn)
  bn = dataclasses.replace(L.MOBILENET_BN, synchronized=sync_batch_norm)
  return build_mobilenet_v2(x, opts.output_stride, opts.depth_multiplier,
                            opts.divisible_by, bn)
