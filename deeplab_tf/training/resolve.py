"""Flag values (a plain dict, None = not given) -> one TrainConfig.

Unset values come from `defaults.defaults_for(dataset)`: the embedded run's
for the synthetic dataset, the paper's otherwise. The dataset descriptor
gives the class count, ignore label, names and colours.
"""

import dataclasses
import logging
import os
from typing import Any, Dict, Optional

from deeplab_tf.config import (MOBILENET_VARIANTS, ModelOptions,
                               paper_atrous_rates)
from deeplab_tf.data import (LABEL_MAP_FILENAME, DataError,
                             get_dataset_descriptor)
from deeplab_tf.data import tfds_source
from deeplab_tf.data.builtin import bit_colormap
from deeplab_tf.errors import ConfigError
from deeplab_tf.training import defaults
from deeplab_tf.training.config import TrainConfig

TRAIN_FLAG_NAMES = tuple(f.name for f in dataclasses.fields(TrainConfig)
                         if f.name not in ("model", "class_names", "colormap",
                                           "ignore_label")) + (
    "model_variant", "output_stride", "atrous_rates", "decoder_output_stride",
    "aspp_with_separable_conv", "decoder_use_separable_conv", "multi_grid",
    "depth_multiplier", "num_classes", "train_crop_size")


def parse_crop_size(value, flag: str = "train_crop_size"):
  """'h,w' / [h, w] / h -> (h, w); ValueError naming the flag."""
  if isinstance(value, str):
    value = value.split(",")
  if isinstance(value, int):
    value = [value, value]
  text = (",".join(str(v) for v in value) if isinstance(value, (list, tuple))
          else repr(value))
  try:
    size = tuple(int(v) for v in value)
  except (TypeError, ValueError):
    raise ConfigError("--%s=%s must be 'height,width'" % (flag, text)) from None
  if len(size) == 1:
    size = size * 2
  if len(size) != 2 or min(size) < 1:
    raise ConfigError("--%s=%s must be two positive integers 'height,width'"
                      % (flag, text))
  return size


def parse_decoder_output_stride(value) -> Optional[int]:
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


def dataset_name(values: Dict[str, Any]) -> str:
  """The dataset the flags name: --dataset, else the --dataset_dir's
  label_map.json, else (no dataset flag at all) the embedded 'synthetic'.

  Raises ValueError for a --dataset_dir that does not exist, or that holds
  no label_map.json when --dataset is not given (the synthetic data is never
  written into a user directory).
  """
  directory = values.get("dataset_dir")
  if directory and not os.path.isdir(directory):
    raise ConfigError("--dataset_dir=%s does not exist or is not a directory"
                      % directory)
  if values.get("dataset"):
    return values["dataset"]
  if not directory:
    return "synthetic"
  if os.path.isfile(os.path.join(directory, LABEL_MAP_FILENAME)):
    return directory
  raise ConfigError(
      "--dataset_dir=%s has no %s, so its classes are unknown: pass "
      "--dataset=<built-in name or label-map file> (or add %s)"
      % (directory, LABEL_MAP_FILENAME, LABEL_MAP_FILENAME))


def check_dataset_dir_label_map(descriptor, dataset_dir: str):
  """A dataset_dir's own label_map.json must agree with --dataset."""
  path = os.path.join(dataset_dir, LABEL_MAP_FILENAME)
  if not os.path.isfile(path):
    return
  try:
    found = get_dataset_descriptor(path)
  except DataError as e:
    raise ConfigError("--dataset_dir=%s: %s" % (dataset_dir, e)) from None
  if (found.num_classes, found.ignore_label) != (descriptor.num_classes,
                                                  descriptor.ignore_label):
    raise ConfigError(
        "--dataset=%s has %d classes (ignore label %d) but --dataset_dir=%s "
        "holds records of %s with %d classes (ignore label %d, %s); pass the "
        "matching --dataset or --dataset_dir"
        % (descriptor.name, descriptor.num_classes, descriptor.ignore_label,
           dataset_dir, found.name, found.num_classes, found.ignore_label,
           path))


def model_options(values: Dict[str, Any], preset: Dict[str, Any],
                  num_classes: int) -> ModelOptions:
  """The ModelOptions of the flag values (preset fills the gaps)."""
  get = lambda k: values.get(k) if values.get(k) is not None else preset.get(k)
  variant = get("model_variant")
  output_stride = int(get("output_stride"))
  rates = values.get("atrous_rates")
  if rates is None:
    rates = (None if variant in MOBILENET_VARIANTS
             else paper_atrous_rates(output_stride))
  decoder = (parse_decoder_output_stride(values["decoder_output_stride"])
             if values.get("decoder_output_stride") is not None
             else preset["decoder_output_stride"])
  if decoder is not None and decoder >= output_stride:
    decoder = None if values.get("decoder_output_stride") is None else decoder
  kwargs = dict(
      model_variant=variant, num_classes=num_classes,
      output_stride=output_stride, atrous_rates=rates,
      decoder_output_stride=decoder,
      # Unset (None): the paper's separable ASPP and decoder.
      aspp_with_separable_conv=values.get("aspp_with_separable_conv")
      is not False,
      decoder_use_separable_conv=values.get("decoder_use_separable_conv")
      is not False,
      multi_grid=values.get("multi_grid"),
      crop_size=parse_crop_size(get("train_crop_size")))
  if variant in MOBILENET_VARIANTS:
    kwargs["depth_multiplier"] = float(get("depth_multiplier"))
    kwargs["divisible_by"] = values.get("divisible_by")  # zoo: entries
  elif values.get("depth_multiplier") not in (None, 1.0):
    raise ConfigError("--depth_multiplier only applies to mobilenet_v2")
  return ModelOptions(**kwargs)


def train_config_from_values(values: Dict[str, Any]) -> TrainConfig:
  """Builds and validates the TrainConfig. Nothing is written: the embedded
  run's synthetic dataset is written by `loop.train` when it starts."""
  values = dict(values)
  name = dataset_name(values)
  preset = defaults.defaults_for(name)
  embedded = name == "synthetic" and not values.get("dataset_dir")
  if embedded:
    values["dataset_dir"] = defaults.SYNTHETIC_DATA_DIR
  tfds = tfds_source.is_tfds(name)
  stray = [k for k in tfds_source.FLAG_NAMES if values.get(k)]
  if stray and not tfds:
    raise ConfigError("--%s only applies to --dataset=tfds:<name> (the "
                      "dataset is %s)" % (stray[0], name))
  if not values.get("dataset_dir") and not tfds:
    raise ConfigError("--dataset_dir is required for --dataset=%s" % name)
  try:
    descriptor = (tfds_source.descriptor_for(
        tfds_source.TfdsSource.from_values(name, values)) if tfds
                  else get_dataset_descriptor(name))
  except DataError as e:
    raise ConfigError("--dataset=%s: %s" % (name, e)) from None
  if not embedded and not tfds and name != values["dataset_dir"]:
    check_dataset_dir_label_map(descriptor, values["dataset_dir"])
  num_classes = descriptor.num_classes
  class_names, colormap = descriptor.class_names, descriptor.colormap
  if values.get("num_classes") and values["num_classes"] < num_classes:
    raise ConfigError(
        "--num_classes=%d is smaller than the %d classes of dataset %s: "
        "labels %d-%d would be silently ignored; drop --num_classes or "
        "relabel the data with a label map of %d classes"
        % (values["num_classes"], num_classes, descriptor.name,
           values["num_classes"], num_classes - 1, values["num_classes"]))
  if values.get("num_classes") and values["num_classes"] != num_classes:
    num_classes = int(values["num_classes"])
    logging.warning("--num_classes=%d overrides the %d classes of dataset %s",
                    num_classes, descriptor.num_classes, descriptor.name)
    class_names = tuple("class_%d" % i for i in range(num_classes))
    colormap = bit_colormap(num_classes)
  if not colormap:
    colormap = bit_colormap(num_classes)
  model = model_options(values, preset, num_classes)
  fields = {f.name for f in dataclasses.fields(TrainConfig)}
  kwargs = {k: v for k, v in values.items() if k in fields and v is not None}
  for key, value in preset.items():
    if key in fields and kwargs.get(key) is None:
      kwargs[key] = value
  kwargs.pop("model", None)
  if kwargs.get("label_weights") is not None:
    kwargs["label_weights"] = tuple(kwargs["label_weights"])
  kwargs.update(model=model, dataset=name, ignore_label=descriptor.ignore_label,
                class_names=class_names, colormap=colormap)
  kwargs.setdefault("train_logdir", defaults.DEFAULT_TRAIN_LOGDIR)
  return TrainConfig(**kwargs)
