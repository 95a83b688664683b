"""The DeepLabv3+ decoder (paper Sec. 3.1, Fig. 2; Tables 1 and 2).

The low-level feature (stride 4) is projected by [1x1, 48] + BN + ReLU
(`decoder/feature_projection0`), the encoder output is resized to it with a
corner-aligned bilinear resize, the two are concatenated in the reference's
order [encoder, low-level] and refined by two [3x3, 256] convs, separable
(`decoder/decoder_conv{0,1}_{depthwise,pointwise}`) or not
(`decoder/decoder_conv0/decoder_conv0_{1,2}`).
"""

import keras

from deeplab_tf import layers as L

LOW_LEVEL_PROJECTION_FILTERS = 48


def build_decoder(encoder_features, low_level_features, *, filters: int = 256,
                  separable: bool = True, bn: L.BatchNormSpec = L.HEAD_BN):
  projected = L.conv_bn(low_level_features, LOW_LEVEL_PROJECTION_FILTERS, 1,
                        "decoder/feature_projection0", bn=bn)
  upsampled = L.ResizeBilinearAlignCorners(name="decoder.upsample")(
      [encoder_features, projected])
  x = keras.layers.Concatenate(name="decoder.concat")([upsampled, projected])
  if separable:
    x = L.split_separable_conv_bn(x, filters, "decoder/decoder_conv0", bn=bn)
    x = L.split_separable_conv_bn(x, filters, "decoder/decoder_conv1", bn=bn)
  else:
    x = L.conv_bn(x, filters, 3, "decoder/decoder_conv0/decoder_conv0_1",
                  bn=bn)
    x = L.conv_bn(x, filters, 3, "decoder/decoder_conv0/decoder_conv0_2",
                  bn=bn)
  return x
