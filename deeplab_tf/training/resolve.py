"""train.py's flag values (a plain dict, None = not given) -> one RunConfig
with its model, data and train sections.

Unset values come from `defaults.defaults_for(dataset)`: the embedded run's
for the synthetic dataset, the paper's otherwise. The dataset descriptor
gives the class count, ignore label, names and colours.
"""

import dataclasses
import logging
import os
from typing import Any, Dict, Optional

from deeplab_tf.config import (MOBILENET_VARIANTS, ModelOptions,
                               paper_atrous_rates,
                               parse_decoder_output_stride)
from deeplab_tf.data import (LABEL_MAP_FILENAME, DataError,
                             get_dataset_descriptor)
from deeplab_tf.data import tfds_source
from deeplab_tf.data.data_config import (Augmentation, DataConfig, as_size,
                                         generic_descriptor, with_colormap)
from deeplab_tf.errors import ConfigError
from deeplab_tf.run_config import RunConfig
from deeplab_tf.training import defaults
from deeplab_tf.training.config import TrainConfig

_TRAIN_FIELDS = tuple(f.name for f in dataclasses.fields(TrainConfig))
_AUGMENTATION_FIELDS = tuple(f.name for f in dataclasses.fields(Augmentation))
# The train.py flags read into a RunConfig.
TRAIN_FLAG_NAMES = _TRAIN_FIELDS + _AUGMENTATION_FIELDS + (
    "dataset", "dataset_dir", "train_split", "train_crop_size",
    "model_variant", "output_stride", "atrous_rates", "decoder_output_stride",
    "aspp_with_separable_conv", "decoder_use_separable_conv", "multi_grid",
    "depth_multiplier", "num_classes") + tfds_source.FLAG_NAMES


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
      multi_grid=values.get("multi_grid"))
  if variant in MOBILENET_VARIANTS:
    kwargs["depth_multiplier"] = float(get("depth_multiplier"))
    kwargs["divisible_by"] = values.get("divisible_by")  # zoo: entries
  elif values.get("depth_multiplier") not in (None, 1.0):
    raise ConfigError("--depth_multiplier only applies to mobilenet_v2")
  return ModelOptions(**kwargs)


def run_config_from_values(values: Dict[str, Any]) -> RunConfig:
  """Builds and validates the run. Nothing is written: the embedded run's
  synthetic dataset is written by `loop.train` when it starts."""
  values = dict(values)
  name = dataset_name(values)
  preset = defaults.defaults_for(name)
  if name == "synthetic" and not values.get("dataset_dir"):
    values["dataset_dir"] = defaults.SYNTHETIC_DATA_DIR
  data = data_config(name, values, preset)
  model = model_options(values, preset, data.num_classes)
  train = {k: values[k] if values.get(k) is not None else preset[k]
           for k in _TRAIN_FIELDS
           if values.get(k) is not None or k in preset}
  train.setdefault("train_logdir", defaults.DEFAULT_TRAIN_LOGDIR)
  return RunConfig(model=model, data=data, train=TrainConfig(**train))


def data_config(name: str, values: Dict[str, Any],
                preset: Dict[str, Any]) -> DataConfig:
  """The data section: the named dataset's descriptor (a --num_classes
  above its count gives numbered classes), directory or TFDS source, split,
  crop and augmentation."""
  tfds = tfds_source.is_tfds(name)
  stray = [k for k in tfds_source.FLAG_NAMES if values.get(k)]
  if stray and not tfds:
    raise ConfigError("--%s only applies to --dataset=tfds:<name> (the "
                      "dataset is %s)" % (stray[0], name))
  if not values.get("dataset_dir") and not tfds:
    raise ConfigError("--dataset_dir is required for --dataset=%s" % name)
  try:
    source = (tfds_source.TfdsSource.from_values(name, values) if tfds
              else None)
    descriptor = (tfds_source.descriptor_for(source) if tfds
                  else get_dataset_descriptor(name))
  except DataError as e:
    raise ConfigError("--dataset=%s: %s" % (name, e)) from None
  embedded = (name == "synthetic"
              and values["dataset_dir"] == defaults.SYNTHETIC_DATA_DIR)
  if not embedded and not tfds and name != values["dataset_dir"]:
    check_dataset_dir_label_map(descriptor, values["dataset_dir"])
  descriptor = _num_classes_override(descriptor, values.get("num_classes"))
  descriptor = with_colormap(descriptor)
  get = lambda k: values.get(k) if values.get(k) is not None else preset.get(k)
  augmentation = Augmentation(**{k: get(k) for k in _AUGMENTATION_FIELDS
                                 if get(k) is not None})
  return DataConfig(
      descriptor=descriptor, dataset_dir=values.get("dataset_dir") or "",
      train_split=values.get("train_split") or "train",
      crop_size=as_size(get("train_crop_size"), "train_crop_size"),
      augmentation=augmentation, tfds=source)


def _num_classes_override(descriptor, num_classes: Optional[int]):
  """The descriptor, or numbered classes for a larger --num_classes."""
  if not num_classes or num_classes == descriptor.num_classes:
    return descriptor
  if num_classes < descriptor.num_classes:
    raise ConfigError(
        "--num_classes=%d is smaller than the %d classes of dataset %s: "
        "labels %d-%d would be silently ignored; drop --num_classes or "
        "relabel the data with a label map of %d classes"
        % (num_classes, descriptor.num_classes, descriptor.name, num_classes,
           descriptor.num_classes - 1, num_classes))
  logging.warning("--num_classes=%d overrides the %d classes of dataset %s",
                  num_classes, descriptor.num_classes, descriptor.name)
  return generic_descriptor(descriptor.name, int(num_classes),
                            descriptor.ignore_label)
