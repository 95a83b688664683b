"""ModelOptions: the one frozen configuration of a DeepLab model.

Field names follow the authors' TF1 flags (research/deeplab/common.py) so that
their command lines and saved configurations carry over; defaults are the
paper's (DeepLabv3+, Xception-65, output stride 16, rates 6/12/18, decoder at
stride 4, separable ASPP and decoder).
"""

import dataclasses
import json
from typing import Optional, Tuple

from deeplab_tf.errors import ConfigError

# Backbone families and what each supports.
XCEPTION_VARIANTS = ("xception_41", "xception_65", "xception_71")
RESNET_VARIANTS = ("resnet_v1_50", "resnet_v1_50_beta", "resnet_v1_101",
                   "resnet_v1_101_beta")
MOBILENET_VARIANTS = ("mobilenet_v2",)
MODEL_VARIANTS = XCEPTION_VARIANTS + RESNET_VARIANTS + MOBILENET_VARIANTS

SUPPORTED_OUTPUT_STRIDES = (8, 16, 32)
SUPPORTED_DECODER_OUTPUT_STRIDES = (4, 8)

# The paper's ASPP rates at output stride 16; they scale with 16 / OS.
PAPER_RATES_AT_OS16 = (6, 12, 18)

# ImageNet mean used by plain (non-beta) ResNets, which subtract it instead of
# mapping [0, 255] to [-1, 1] (feature_extractor.py, _MEAN_RGB).
IMAGENET_MEAN_RGB = (123.15, 115.90, 103.06)


def paper_atrous_rates(output_stride: int) -> Tuple[int, ...]:
  """The paper's ASPP rates for `output_stride` (6/12/18 at 16, 12/24/36 at 8)."""
  return tuple(r * 16 // output_stride for r in PAPER_RATES_AT_OS16)


def parse_decoder_output_stride(value) -> Optional[int]:
  """The --decoder_output_stride flag ('4', [4], 'none') as a stride or
  None (no decoder); ConfigError naming the flag."""
  if value is None:
    return None
  if isinstance(value, (list, tuple)):
    if len(value) != 1:
      raise ConfigError("--decoder_output_stride=%r: give one stride (4) or "
                        "'none'" % (value,))
    value = value[0]
  if str(value).lower() in ("none", "", "0"):
    return None
  try:
    return int(value)
  except ValueError:
    raise ConfigError("--decoder_output_stride=%s: give one stride (4) or "
                      "'none'" % value) from None


def _as_tuple(value):
  if value is None:
    return None
  if isinstance(value, (int, float, str)):
    value = [value]
  return tuple(int(v) for v in value)


@dataclasses.dataclass(frozen=True)
class ModelOptions:
  """Configuration of a DeepLabv3 / DeepLabv3+ model.

  Attributes:
    model_variant: backbone, one of MODEL_VARIANTS.
    num_classes: number of output classes (logits channels).
    output_stride: input / encoder-output resolution ratio (8, 16 or 32).
    atrous_rates: rates of the three 3x3 ASPP branches, or None/() for
      none (the MobileNetV2 model-zoo configuration keeps only the 1x1 branch
      and image pooling).
    decoder_output_stride: stride of the low-level feature the decoder uses
      (4 in the paper), or None for DeepLabv3 (no decoder).
    aspp_with_separable_conv: depthwise-separable 3x3 ASPP branches.
    decoder_use_separable_conv: depthwise-separable 3x3 decoder convs.
    add_image_level_feature: the ASPP image-pooling branch.
    aspp_with_concat_projection: the 1x1 projection after the ASPP concat.
    multi_grid: unit rates of the last block (Xception exit_flow/block2 or
      ResNet block4), e.g. (1, 2, 4); None means (1, 1, 1).
    depth_multiplier: MobileNetV2 width multiplier.
    divisible_by: MobileNetV2 channel rounding; None means the reference's
      default (8 when depth_multiplier == 1, else 1).
    aspp_convs_filters: channels of every ASPP branch and the projection.
    decoder_filters: channels of the two decoder 3x3 convs.

  The model accepts any input size, so the crop is not a model option: it
  is data (`DataConfig.crop_size`, `EvalConfig.crop_size`), checked against
  the model with `check_crop`.
  """
  model_variant: str = "xception_65"
  num_classes: int = 21
  output_stride: int = 16
  atrous_rates: Optional[Tuple[int, ...]] = PAPER_RATES_AT_OS16
  decoder_output_stride: Optional[int] = 4
  aspp_with_separable_conv: bool = True
  decoder_use_separable_conv: bool = True
  add_image_level_feature: bool = True
  aspp_with_concat_projection: bool = True
  multi_grid: Optional[Tuple[int, ...]] = None
  depth_multiplier: float = 1.0
  divisible_by: Optional[int] = None
  aspp_convs_filters: int = 256
  decoder_filters: int = 256

  def __post_init__(self):
    # Normalise sequences so that equal configurations compare (and hash)
    # equal whether they came from lists, JSON or flags.
    rates = _as_tuple(self.atrous_rates)
    object.__setattr__(self, "atrous_rates", rates if rates else None)
    object.__setattr__(self, "multi_grid", _as_tuple(self.multi_grid))
    dos = self.decoder_output_stride
    if isinstance(dos, (list, tuple)):
      if len(dos) > 1:
        raise ConfigError(
            "decoder_output_stride=%r: only one decoder stage is supported "
            "(the paper's model uses [4])" % (list(dos),))
      dos = dos[0] if dos else None
    object.__setattr__(self, "decoder_output_stride",
                       None if dos is None else int(dos))
    object.__setattr__(self, "depth_multiplier", float(self.depth_multiplier))
    self.validate()

  # --------------------------------------------------------------- checks
  def validate(self):
    """Raises ValueError naming the offending field if options conflict."""
    if self.model_variant not in MODEL_VARIANTS:
      raise ConfigError("model_variant=%r is not supported; choose one of %s"
                        % (self.model_variant, ", ".join(MODEL_VARIANTS)))
    if not isinstance(self.num_classes, int) or self.num_classes < 1:
      raise ConfigError("num_classes=%r must be a positive integer"
                        % (self.num_classes,))
    if self.output_stride not in SUPPORTED_OUTPUT_STRIDES:
      raise ConfigError(
          "output_stride=%r: %s can only produce output strides %s"
          % (self.output_stride, self.model_variant, SUPPORTED_OUTPUT_STRIDES))
    if self.atrous_rates is not None and min(self.atrous_rates) < 1:
      raise ConfigError("atrous_rates=%r must be positive"
                        % (self.atrous_rates,))
    if self.decoder_output_stride is not None:
      if self.decoder_output_stride not in SUPPORTED_DECODER_OUTPUT_STRIDES:
        raise ConfigError("decoder_output_stride=%r must be one of %s or None"
                          % (self.decoder_output_stride,
                             SUPPORTED_DECODER_OUTPUT_STRIDES))
      if self.decoder_output_stride >= self.output_stride:
        raise ConfigError(
            "decoder_output_stride=%d must be smaller than output_stride=%d"
            % (self.decoder_output_stride, self.output_stride))
    if self.multi_grid is not None:
      if self.model_variant in MOBILENET_VARIANTS:
        raise ConfigError("multi_grid is not supported by %s"
                          % self.model_variant)
      if len(self.multi_grid) != 3 or min(self.multi_grid) < 1:
        raise ConfigError("multi_grid=%r must be three positive unit rates, "
                          "e.g. (1, 2, 4)" % (self.multi_grid,))
    if self.depth_multiplier <= 0:
      raise ConfigError("depth_multiplier=%r must be > 0"
                        % self.depth_multiplier)
    if (self.depth_multiplier != 1.0 or self.divisible_by is not None) and (
        self.model_variant not in MOBILENET_VARIANTS):
      raise ConfigError("depth_multiplier / divisible_by only apply to "
                        "mobilenet_v2, not %s" % self.model_variant)
    for name in ("aspp_convs_filters", "decoder_filters"):
      if getattr(self, name) < 1:
        raise ConfigError("%s must be positive" % name)

  def check_crop(self, crop_size, flag: str = "train_crop_size"):
    """ConfigError naming `flag` when the model cannot use `crop_size`: a
    crop below the output stride, or atrous rates that see only padding."""
    if min(crop_size) < self.output_stride:
      raise ConfigError(
          "--%s=%d,%d is smaller than --output_stride=%d: the network would "
          "see less than one feature pixel; use a larger crop (the paper "
          "uses 513,513)" % ((flag,) + tuple(crop_size)
                             + (self.output_stride,)))
    if self.atrous_rates is None:
      return
    feature = min((c - 1) // self.output_stride + 1 for c in crop_size)
    if max(self.atrous_rates) >= feature:
      raise ConfigError(
          "atrous_rates=%r do not fit output_stride=%d: at --%s=%d,%d the "
          "feature map is %d pixels, so a rate >= %d sees only padding; "
          "the paper uses %s at output_stride %d"
          % ((self.atrous_rates, self.output_stride, flag) + tuple(crop_size)
             + (feature, feature, paper_atrous_rates(self.output_stride),
                self.output_stride)))

  # --------------------------------------------------------------- derived
  @property
  def preprocess(self) -> str:
    """'zero_mean_unit_range' (x*2/255-1) or 'subtract_imagenet_mean'."""
    if self.model_variant in ("resnet_v1_50", "resnet_v1_101"):
      return "subtract_imagenet_mean"
    return "zero_mean_unit_range"

  @property
  def mean_pixel(self) -> Tuple[float, float, float]:
    """The padding value that becomes 0 after the input normalisation."""
    if self.preprocess == "subtract_imagenet_mean":
      return IMAGENET_MEAN_RGB
    return (127.5, 127.5, 127.5)

  def replace(self, **changes) -> "ModelOptions":
    return dataclasses.replace(self, **changes)

  def for_output_stride(self, output_stride: int) -> "ModelOptions":
    """The same model at another output stride, ASPP rates rescaled.

    The weights do not change: train at 16 and evaluate at 8 (rates 12/24/36).
    """
    rates = self.atrous_rates
    if rates is not None:
      scaled = [r * self.output_stride / output_stride for r in rates]
      if any(s != int(s) for s in scaled):
        raise ConfigError("atrous_rates %r cannot be rescaled from output "
                          "stride %d to %d" % (rates, self.output_stride,
                                               output_stride))
      rates = tuple(int(s) for s in scaled)
    return self.replace(output_stride=output_stride, atrous_rates=rates)

  # ------------------------------------------------------- serialisation
  def to_dict(self) -> dict:
    d = dataclasses.asdict(self)
    for k, v in d.items():
      if isinstance(v, tuple):
        d[k] = list(v)
    return d

  @classmethod
  def from_dict(cls, d: dict) -> "ModelOptions":
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
      raise ConfigError("unknown ModelOptions fields: %s" % ", ".join(unknown))
    return cls(**d)

  def to_json(self) -> str:
    return json.dumps(self.to_dict(), indent=2, sort_keys=True)

  @classmethod
  def from_json(cls, text: str) -> "ModelOptions":
    return cls.from_dict(json.loads(text))
