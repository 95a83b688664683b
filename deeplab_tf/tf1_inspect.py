"""What an authors' TF1 checkpoint records about its own model.

A TF1 (slim) checkpoint carries no configuration, but its variable names and
shapes fix most of the architecture:

  * the backbone: the scope (`xception_65/`, `MobilenetV2/`,
    `resnet_v1_101/`), ResNet "beta" by its three-conv stem (`conv1_1`), the
    MobileNetV2 depth multiplier by the channels of its last projection
    (320 x depth multiplier);
  * the class count: the shape of `logits/semantic/weights`;
  * the head: which ASPP branches exist (`image_pooling`, `aspp1..3`) and
    whether they are separable (`aspp1_depthwise`), the concat projection,
    the decoder (`decoder/feature_projection0`) and whether it is separable
    (`decoder/decoder_conv0_depthwise`), and the head's channel counts.

What it does not record (the output stride, the ASPP rate values, the
decoder's stride, multi_grid) takes the paper's values unless given: output
stride 16, rates 6/12/18 scaled to the stride when the checkpoint has atrous
branches, decoder at stride 4 when it has a decoder.

`infer_model_options(checkpoint, **given)` returns the ModelOptions; a given
value that contradicts the checkpoint is a ValueError naming both.
"""

from typing import Any, Dict, Optional, Tuple

import tensorflow as tf

from deeplab_tf.checkpoint_files import resolve_checkpoint_prefix
from deeplab_tf.config import (MODEL_VARIANTS, ModelOptions,
                               paper_atrous_rates)
from deeplab_tf.errors import ConfigError, UserError

# MobileNetV2's last projection has 320 channels at depth multiplier 1.
_MOBILENET_LAST_PROJECT = "MobilenetV2/expanded_conv_16/project/weights"
_MOBILENET_LAST_CHANNELS = 320

# `decoder_output_stride=NO_DECODER` asks for no decoder (None = not given).
NO_DECODER = "none"

# Options the checkpoint's variables decide (as opposed to defaults).
RECORDED = ("model_variant", "num_classes", "depth_multiplier",
            "add_image_level_feature", "aspp_with_separable_conv",
            "aspp_with_concat_projection", "decoder_use_separable_conv",
            "aspp_convs_filters", "decoder_filters")


def checkpoint_shapes(checkpoint: str) -> Dict[str, Tuple[int, ...]]:
  """{variable name: shape} of a checkpoint prefix or directory."""
  prefix = resolve_checkpoint_prefix(checkpoint)
  return {name: tuple(shape) for name, shape in tf.train.list_variables(prefix)}


def _backbone(shapes, checkpoint) -> Tuple[str, Dict[str, Any]]:
  """(model_variant, extra recorded options) of the backbone scope."""
  scopes = {name.split("/", 1)[0] for name in shapes}
  if "MobilenetV2" in scopes:
    project = shapes.get(_MOBILENET_LAST_PROJECT)
    if project is None:
      raise UserError("%s: a MobilenetV2 checkpoint without %s"
                      % (checkpoint, _MOBILENET_LAST_PROJECT))
    return "mobilenet_v2", {
        "depth_multiplier": project[-1] / _MOBILENET_LAST_CHANNELS}
  for variant in MODEL_VARIANTS:
    scope = variant.replace("_beta", "")
    if scope in scopes:
      if scope.startswith("resnet"):
        beta = (scope + "/conv1_1/weights") in shapes
        return scope + ("_beta" if beta else ""), {}
      return variant, {}
  raise UserError(
      "%s holds no backbone this project builds (scopes: %s; expected one "
      "of xception_41/65/71, resnet_v1_50/101, MobilenetV2)"
      % (checkpoint, ", ".join(sorted(scopes))))


def recorded_options(checkpoint: str) -> Dict[str, Any]:
  """The ModelOptions fields the checkpoint's variables decide.

  `num_classes` is absent for checkpoints without logits (ImageNet
  backbones); head options are absent for backbone-only checkpoints.
  """
  shapes = checkpoint_shapes(checkpoint)
  variant, recorded = _backbone(shapes, checkpoint)
  recorded["model_variant"] = variant
  logits = shapes.get("logits/semantic/weights")
  if logits is not None:
    recorded["num_classes"] = int(logits[-1])
  aspp0 = shapes.get("aspp0/weights")
  if aspp0 is None:
    return recorded  # a backbone checkpoint: the head is the caller's
  recorded["aspp_convs_filters"] = int(aspp0[-1])
  recorded["add_image_level_feature"] = "image_pooling/weights" in shapes
  recorded["aspp_with_concat_projection"] = (
      "concat_projection/weights" in shapes)
  if "aspp1_depthwise/depthwise_weights" in shapes:
    recorded["aspp_with_separable_conv"] = True
    recorded["_has_atrous"] = True
  else:
    recorded["_has_atrous"] = "aspp1/weights" in shapes
    if recorded["_has_atrous"]:
      recorded["aspp_with_separable_conv"] = False
  recorded["_has_decoder"] = "decoder/feature_projection0/weights" in shapes
  if "decoder/decoder_conv0_pointwise/weights" in shapes:
    recorded["decoder_use_separable_conv"] = True
    recorded["decoder_filters"] = int(
        shapes["decoder/decoder_conv0_pointwise/weights"][-1])
  elif "decoder/decoder_conv0/decoder_conv0_1/weights" in shapes:
    recorded["decoder_use_separable_conv"] = False
    recorded["decoder_filters"] = int(
        shapes["decoder/decoder_conv0/decoder_conv0_1/weights"][-1])
  return recorded


def _same(name, given, recorded) -> bool:
  if name == "depth_multiplier":
    return abs(float(given) - float(recorded)) < 1e-6
  return given == recorded


def _contradiction(name, given, checkpoint, recorded) -> ConfigError:
  return ConfigError("--%s=%s contradicts the checkpoint %s, which records "
                     "%s=%s" % (name, given, checkpoint, name, recorded))


def infer_model_options(checkpoint: str, *, num_classes: Optional[int] = None,
                        ignore_logits: bool = False, **given) -> ModelOptions:
  """The ModelOptions of a TF1 checkpoint.

  Args:
    checkpoint: TF1 checkpoint prefix or directory.
    num_classes: required only when the checkpoint has no logits (a
      backbone) or `ignore_logits`; otherwise it must equal the logits'
      class count.
    ignore_logits: the logits will not be loaded (another class count).
    **given: other ModelOptions fields the user set (None = not set). Those
      the checkpoint records must agree with it; the others (output_stride,
      atrous_rates, decoder_output_stride, multi_grid) are used
      as given, unset ones being the paper's; decoder_output_stride may be
      NO_DECODER ('none': DeepLabv3).

  Raises:
    ValueError: a given value contradicts the checkpoint (naming both), or
      the class count is unknown.
  """
  given = {k: v for k, v in given.items() if v is not None}
  if num_classes is not None:
    given["num_classes"] = int(num_classes)
  recorded = recorded_options(checkpoint)
  if ignore_logits:
    recorded.pop("num_classes", None)
  has_atrous = recorded.pop("_has_atrous", None)
  has_decoder = recorded.pop("_has_decoder", None)
  for name, value in recorded.items():
    if name in given and not _same(name, given[name], value):
      raise _contradiction(name, given[name], checkpoint, value)
  options = dict(given, **recorded)
  if "num_classes" not in options:
    raise ConfigError("%s has no logits (a backbone checkpoint): give "
                      "--num_classes or --dataset" % checkpoint)
  output_stride = int(options.setdefault("output_stride", 16))
  if has_atrous is not None:
    rates = options.get("atrous_rates")
    if has_atrous and not rates:
      options["atrous_rates"] = paper_atrous_rates(output_stride)
    elif not has_atrous and rates:
      raise ConfigError("--atrous_rates=%s contradicts the checkpoint %s, "
                        "which has no atrous ASPP branches"
                        % (list(rates), checkpoint))
    elif not has_atrous:
      options["atrous_rates"] = None
  if has_decoder is not None:
    decoder = options.get("decoder_output_stride")
    if has_decoder and decoder == NO_DECODER:
      raise ConfigError("--decoder_output_stride=none contradicts the "
                        "checkpoint %s, which has a decoder" % checkpoint)
    if not has_decoder and decoder not in (None, NO_DECODER):
      raise ConfigError("--decoder_output_stride=%s contradicts the "
                        "checkpoint %s, which has no decoder"
                        % (decoder, checkpoint))
    options["decoder_output_stride"] = (decoder or 4) if has_decoder else None
  elif options.get("decoder_output_stride") == NO_DECODER:
    options["decoder_output_stride"] = None
  return ModelOptions(**options)


def train_flag_values(checkpoint: str, values: Dict[str, Any],
                      restore_head: bool = True) -> Dict[str, Any]:
  """train.py's model flag values for fine-tuning from a TF1 checkpoint.

  As in eval.py, export.py and convert_tf1_checkpoint.py, what the
  checkpoint records is read from it: unset values (None) become the
  recorded ones, a set value that contradicts it is a ConfigError naming
  both. The class count may differ (the logits are then not restored); with
  `restore_head=False` (--initialize_last_layer=false, whole head) only the
  backbone must agree. Flag values keep the flags' forms: atrous_rates []
  and decoder_output_stride ['none'] mean none.
  """
  recorded = recorded_options(checkpoint)
  out = dict(values)
  names = ("model_variant", "depth_multiplier")
  if restore_head:
    names += ("aspp_with_separable_conv", "decoder_use_separable_conv")
  for name in names:
    if name not in recorded:
      continue
    if values.get(name) is None:
      out[name] = recorded[name]
    elif not _same(name, values[name], recorded[name]):
      raise _contradiction(name, values[name], checkpoint, recorded[name])
  if not restore_head:
    return out
  rates = values.get("atrous_rates")
  has_atrous = recorded.get("_has_atrous")
  if has_atrous is False:
    if rates:
      raise _contradiction("atrous_rates", ",".join(map(str, rates)),
                           checkpoint, "none (no atrous ASPP branches)")
    out["atrous_rates"] = []
  elif has_atrous and rates == []:
    raise _contradiction("atrous_rates", "none", checkpoint,
                         "atrous ASPP branches")
  decoder = values.get("decoder_output_stride")
  no_decoder = decoder is not None and str(
      decoder[0] if isinstance(decoder, (list, tuple)) and decoder
      else decoder).lower() in (NO_DECODER, "", "0")
  has_decoder = recorded.get("_has_decoder")
  if has_decoder is False:
    if decoder is not None and not no_decoder:
      raise _contradiction("decoder_output_stride", ",".join(decoder),
                           checkpoint, "none (no decoder)")
    out["decoder_output_stride"] = [NO_DECODER]
  elif has_decoder and no_decoder:
    raise _contradiction("decoder_output_stride", NO_DECODER, checkpoint,
                         "a decoder")
  return out

