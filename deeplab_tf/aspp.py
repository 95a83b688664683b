"""Atrous Spatial Pyramid Pooling (DeepLabv3 encoder head; paper Sec. 3.1).

Branches, concatenated in the reference's order [image_pooling, aspp0,
aspp1, aspp2, aspp3]: image-level pooling (global mean -> 1x1 conv + BN +
ReLU -> corner-aligned resize back), a 1x1 conv, and one 3x3 atrous conv per
rate (separable: depthwise -> BN -> ReLU -> 1x1 -> BN -> ReLU). Then the 1x1
`concat_projection` + BN + ReLU and dropout (keep 0.9) in training.

Image pooling averages the whole feature map. The reference pools with a
kernel equal to the feature size at the crop size, which is the same thing
whenever the network sees the (padded) crop, as in training, evaluation and
export.
"""

from typing import Optional, Sequence

import keras

from deeplab_tf import layers as L


def build_aspp(features, *, filters: int = 256,
               atrous_rates: Optional[Sequence[int]] = (6, 12, 18),
               separable: bool = True, image_pooling: bool = True,
               concat_projection: bool = True,
               bn: L.BatchNormSpec = L.HEAD_BN):
  branches = []
  if image_pooling:
    pooled = keras.layers.GlobalAveragePooling2D(
        keepdims=True, name="image_pooling.mean")(features)
    pooled = L.conv_bn(pooled, filters, 1, "image_pooling", bn=bn)
    branches.append(L.ResizeBilinearAlignCorners(name="image_pooling.resize")(
        [pooled, features]))
  branches.append(L.conv_bn(features, filters, 1, "aspp0", bn=bn))
  for i, rate in enumerate(atrous_rates or (), 1):
    scope = "aspp%d" % i
    if separable:
      branches.append(L.split_separable_conv_bn(features, filters, scope,
                                                bn=bn, rate=rate))
    else:
      branches.append(L.conv_bn(features, filters, 3, scope, bn=bn,
                                rate=rate))
  x = (keras.layers.Concatenate(name="aspp_concat")(branches)
       if len(branches) > 1 else branches[0])
  if concat_projection:
    x = L.conv_bn(x, filters, 1, "concat_projection", bn=bn)
    x = keras.layers.Dropout(0.1, name="concat_projection_dropout")(x)
  return x
