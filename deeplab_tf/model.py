"""build_model: the one place that turns ModelOptions into Keras layers."""

import dataclasses
from typing import Optional, Tuple

import keras

from deeplab_tf import layers as L
from deeplab_tf.aspp import build_aspp
from deeplab_tf.backbones import build_backbone
from deeplab_tf.config import ModelOptions
from deeplab_tf.decoder import build_decoder

LOGITS_SCOPE = "logits/semantic"


def build_model(opts: ModelOptions, upsample_logits: bool = True, *,
                input_shape: Tuple[Optional[int], Optional[int], int] = (
                    None, None, 3),
                sync_batch_norm: bool = False,
                name: Optional[str] = None) -> keras.Model:
  """Builds DeepLabv3+ (or DeepLabv3 when opts.decoder_output_stride is None).

  Args:
    opts: the model configuration.
    upsample_logits: if True the output is logits at the input size
      (corner-aligned bilinear upsampling, as the reference); if False, the
      logits at the network's own output stride (decoder or encoder stride).
    input_shape: (height, width, 3); None dims accept any size. A fixed size
      gives static shapes (used by the complexity report).
    sync_batch_norm: synchronise BatchNorm statistics across replicas.
    name: Keras model name.

  Returns:
    A functional keras.Model mapping float32 RGB in [0, 255], shape
    [batch, H, W, 3], to float32 logits [batch, h, w, num_classes]. The
    backbone's input normalisation is inside the model; layer names are the
    reference's TF1 scopes with '/' written as '.' (see `layers.layer_name`).
  """
  image = keras.Input(shape=input_shape, dtype="float32", name="image")
  x = L.InputNormalization(opts.preprocess, name="input_normalization")(image)
  features, taps = build_backbone(x, opts, sync_batch_norm=sync_batch_norm)
  head_bn = dataclasses.replace(L.HEAD_BN, synchronized=sync_batch_norm)
  x = build_aspp(features, filters=opts.aspp_convs_filters,
                 atrous_rates=opts.atrous_rates,
                 separable=opts.aspp_with_separable_conv,
                 image_pooling=opts.add_image_level_feature,
                 concat_projection=opts.aspp_with_concat_projection,
                 bn=head_bn)
  if opts.decoder_output_stride is not None:
    x = build_decoder(x, taps[opts.decoder_output_stride],
                      filters=opts.decoder_filters,
                      separable=opts.decoder_use_separable_conv, bn=head_bn)
  # Logits stay float32 under mixed precision.
  logits = keras.layers.Conv2D(
      opts.num_classes, 1, use_bias=True, dtype="float32",
      kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.01),
      name=L.layer_name(LOGITS_SCOPE))(x)
  if upsample_logits:
    logits = L.ResizeBilinearAlignCorners(
        dtype="float32", name="upsample_logits")([logits, image])
  if name is None:
    name = "deeplabv3plus" if opts.decoder_output_stride else "deeplabv3"
  return keras.Model(image, logits, name=name)


def transfer_weights(source: keras.Model, target: keras.Model):
  """Copies weights layer by layer by name (e.g. an OS16 model into OS8).

  Raises ValueError naming any layer missing in `target` or of other shape.
  """
  for layer in source.layers:
    weights = layer.get_weights()
    if not weights:
      continue
    try:
      dst = target.get_layer(layer.name)
    except ValueError:
      raise ValueError("layer %r has no counterpart in %s"
                       % (layer.name, target.name)) from None
    dst.set_weights(weights)
