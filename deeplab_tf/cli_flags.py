"""The flags the command lines share, each defined once.

train.py, eval.py, export.py, convert_tf1_checkpoint.py, `python -m
deeplab_tf.complexity` and `python -m datasets.*` call `define(*names)` for
the shared flags they read, so a flag has the same name, help, type and
default in every tool (and the tools can be imported into one process):

  * the model (MODEL_FLAGS, the authors' names): unset (None) means the
    paper's model (xception_65, output stride 16, rates 6/12/18 scaled to
    the stride, decoder at 4, separable ASPP and decoder), or what the run's
    saved configuration or a TF1 checkpoint records (deeplab_tf/tf1_inspect:
    a flag contradicting the checkpoint is an error naming both values);
  * the dataset and TensorFlow Datasets (DATASET_FLAGS, TFDS_FLAGS), the
    checkpoints, the inference scales and the sliding window.

Enum choices come from the library: those of TensorFlow-free modules
(backbones, strategies, learning policies) are absl enums; those of modules
that import TensorFlow (TFLite variants, paddings, window weightings) are
checked when the flags are parsed (`define_choice`), so `--help` never
imports TensorFlow. absl flags live only here and in the CLIs, never in the
library.
"""

import importlib
import sys
from typing import Sequence

from absl import flags

from deeplab_tf.config import MODEL_VARIANTS
from deeplab_tf.config import SUPPORTED_OUTPUT_STRIDES

FLAGS = flags.FLAGS



def _paper(value: str = "") -> str:
  return ("(default: the paper's%s, or what the run's saved configuration or "
          "a TF1 checkpoint records; train.py on the synthetic data: the "
          "embedded run's)" % value)



class _IntListParser(flags.ArgumentParser):
  """'6,12,18' -> [6, 12, 18]; 'none' -> [] (explicitly none)."""

  def parse(self, argument):
    if isinstance(argument, (list, tuple)):
      return [int(v) for v in argument]
    text = str(argument).strip()
    if text.lower() in ("none", ""):
      return []
    try:
      return [int(v) for v in text.split(",")]
    except ValueError:
      raise ValueError("expected integers, e.g. 6,12,18 (or repeat the "
                       "flag), or 'none'") from None

  def flag_type(self):
    return "int list"


class IntListFlag(flags.MultiFlag):
  """A repeatable int-list flag: `--atrous_rates=6 --atrous_rates=12
  --atrous_rates=18` (the authors' form) or `--atrous_rates=6,12,18`;
  `--atrous_rates=none` gives [] (none, as opposed to None: not given)."""

  def __init__(self, name, help_string):
    super().__init__(_IntListParser(), flags.ArgumentSerializer(), name,
                     None, help_string)

  def _parse(self, arguments):
    items = ([arguments] if isinstance(arguments, str)
             else list(arguments) if isinstance(arguments, (list, tuple))
             else [arguments])
    return [v for item in items for v in self.parser.parse(item)]

  def parse(self, arguments):
    try:
      new_values = self._parse(arguments)
    except ValueError as e:
      raise flags.IllegalFlagValueError("flag --%s=%s: %s" % (
          self.name, arguments, e)) from None
    self.value = (self.value + new_values) if self.present else new_values
    self.present += 1  # also for 'none' (no values, but given)


# name -> (absl DEFINE_* function, default, help, keyword arguments).
_SPECS = {
    # The model (ModelOptions; the authors' flag names).
    "model_variant": (flags.DEFINE_enum, None, "Backbone " + _paper(", xception_65") + ".",
                      {"enum_values": list(MODEL_VARIANTS)}),
    "output_stride": (flags.DEFINE_integer, None, "Output stride, one of %s "
                      "(default 16, or the trained one; eval.py / export.py "
                      "evaluate at it, the rates rescaled)."
                      % (SUPPORTED_OUTPUT_STRIDES,), {}),
    "atrous_rates": (IntListFlag, None, "ASPP rates: repeated "
                     "(--atrous_rates=6 --atrous_rates=12 --atrous_rates=18)"
                     " or 6,12,18, 'none' for no atrous branches (default: "
                     "6/12/18 at output stride 16 scaled to the stride; none "
                     "for mobilenet_v2).", {}),
    "decoder_output_stride": (flags.DEFINE_list, None, "Decoder stride, or "
                              "'none' for DeepLabv3 " + _paper(", 4") + ".",
                              {}),
    "aspp_with_separable_conv": (flags.DEFINE_boolean, None, "Separable ASPP "
                                 + _paper(", true") + ".", {}),
    "decoder_use_separable_conv": (flags.DEFINE_boolean, None, "Separable "
                                   "decoder " + _paper(", true") + ".", {}),
    "multi_grid": (IntListFlag, None, "Unit rates of the last block, e.g. "
                   "1,2,4 (default 1,1,1).", {}),
    "depth_multiplier": (flags.DEFINE_float, None, "MobileNetV2 width "
                         "multiplier " + _paper(", 1.0") + ".", {}),
    "num_classes": (flags.DEFINE_integer, None, "Class count (default: the "
                    "dataset's, the run's, or the TF1 checkpoint's logits).",
                    {}),
    "add_image_level_feature": (flags.DEFINE_boolean, None, "ASPP image "
                                "pooling branch " + _paper(", true") + ".", {}),
    "crop_size": (flags.DEFINE_list, None, "Crop 'height,width' (data, "
                  "not a model option): inputs are padded to it (default: "
                  "the run's training crop, 513,513 for a TF1 checkpoint).",
                  {}),
    # The dataset.
    "dataset": (flags.DEFINE_string, None, "Built-in dataset name, label-map "
                "file or tfds:<name>[/<config>][:<version>] (default: the "
                "dataset_dir's label_map.json, the run's saved dataset, or "
                "'synthetic' for train.py); eval.py / export.py: the classes "
                "of a --tf_initial_checkpoint.", {}),
    "dataset_dir": (flags.DEFINE_string, None, "TFRecord directory (default: "
                    "the run's saved one).", {}),
    "tfds_data_dir": (flags.DEFINE_string, None, "TFDS data directory "
                      "(default: the run's saved one, else TFDS's: "
                      "$TFDS_DATA_DIR or ~/tensorflow_datasets).", {}),
    "tfds_download": (flags.DEFINE_boolean, False, "Download and prepare the "
                      "TFDS dataset if it is not prepared.", {}),
    "tfds_image_key": (flags.DEFINE_string, None, "TFDS image feature "
                       "(default: the adapter's, else 'image').", {}),
    "tfds_label_key": (flags.DEFINE_string, None, "TFDS mask feature "
                       "(default: the adapter's, else 'segmentation_mask').",
                       {}),
    "label_map": (flags.DEFINE_string, None, "Classes of a TFDS dataset: "
                  "built-in dataset name or label-map file.", {}),
    # Checkpoints.
    "checkpoint_dir": (flags.DEFINE_string, None, "A train.py run directory "
                       "(newest checkpoint) or a checkpoint prefix, with its "
                       "deeplab_config.json (eval.py default runs/default).",
                       {}),
    "tf_initial_checkpoint": (flags.DEFINE_string, None, "An authors' TF1 "
                              "(model zoo) checkpoint, zoo:<name> (python -m "
                              "deeplab_tf.zoo list) or, for train.py, a TF2 "
                              "checkpoint to start from. eval.py / export.py "
                              "use it instead of --checkpoint_dir: the "
                              "model flags then describe what it does not "
                              "record.", {}),
    # Inference.
    "eval_scales": (flags.DEFINE_list, ["1.0"], "Input scales, e.g. "
                    "0.5,0.75,1.0,1.25,1.5,1.75.", {}),
    "add_flipped_images": (flags.DEFINE_boolean, False, "Also average the "
                           "left-right flipped predictions.", {}),
    "window_size": (flags.DEFINE_list, None, "Sliding window 'height,width' "
                    "(eval.py default: the eval crop; export.py: adds the "
                    "serving_sliding signature).", {}),
    "window_stride": (flags.DEFINE_list, None, "Sliding window step "
                      "'height,width' (default: 2/3 of the window).", {}),
    "window_batch_size": (flags.DEFINE_integer, 1, "Windows run together.",
                          {}),
    "window_weighting": ("deeplab_tf.sliding_window:WEIGHTINGS", "uniform",
                         "Weight of overlapping window predictions.", {}),
}

MODEL_FLAGS = ("model_variant", "output_stride", "atrous_rates",
               "decoder_output_stride", "aspp_with_separable_conv",
               "decoder_use_separable_conv", "multi_grid", "depth_multiplier",
               "num_classes")
DATASET_FLAGS = ("dataset", "dataset_dir")
TFDS_FLAGS = ("tfds_data_dir", "tfds_download", "tfds_image_key",
              "tfds_label_key", "label_map")
WINDOW_FLAGS = ("window_size", "window_stride", "window_batch_size",
                "window_weighting")


def _caller_module() -> str:
  """absl's name for the module that called into this one (sys.argv[0] for
  a script), whose key flags --help lists."""
  frame = sys._getframe(1)  # pylint: disable=protected-access
  while frame.f_globals.get("__name__") == __name__:
    frame = frame.f_back
  name = frame.f_globals.get("__name__")
  return sys.argv[0] if name == "__main__" else name


def _key_flag(name: str, module: str):
  FLAGS.register_key_flag_for_module(module, FLAGS[name])


def _choices(spec: str):
  module, attr = spec.split(":")
  return tuple(getattr(importlib.import_module(module), attr))


def define_choice(name: str, default, choices: str, help_string: str,
                  multi: bool = False):
  """A string (or, `multi`, a comma list) flag whose allowed values are the
  library's tuple `choices` ('module:NAME'), checked when flags are parsed
  (so `--help` does not import the module, which may import TensorFlow)."""
  if name not in FLAGS:
    help_string += " Choices: %s." % choices.replace(":", ".")
    define = flags.DEFINE_list if multi else flags.DEFINE_string
    define(name, default, help_string)

    def check(value):
      values = value if isinstance(value, list) else [value]
      allowed = _choices(choices)
      bad = [v for v in values if v is not None and v not in allowed]
      if bad:
        raise flags.ValidationError("%s: choose from %s" % (
            ",".join(bad), ", ".join(allowed)))
      return True
    flags.register_validator(name, check)
  _key_flag(name, _caller_module())


def define(*names: Sequence[str]):
  """Defines the shared flags `names` (once per process) and makes them key
  flags of the calling CLI (listed by its --help)."""
  module = _caller_module()
  for name in names:
    if name not in FLAGS:
      definer, default, help_string, kwargs = _SPECS[name]
      if isinstance(definer, str):
        define_choice(name, default, definer, help_string)
      elif definer is IntListFlag:
        flags.DEFINE_flag(IntListFlag(name, help_string))
      else:
        definer(name=name, default=default, help=help_string, **kwargs)
    _key_flag(name, module)


def given(names: Sequence[str]):
  """{name: value} of the flags among `names` given on the command line."""
  return {name: FLAGS[name].value for name in names if FLAGS[name].present}


def size(name: str):
  """A 'height,width' flag as a (height, width) pair, None when unset; a
  bad value is a ConfigError naming the flag."""
  from deeplab_tf.data.data_config import as_size  # pylint: disable=g-import-not-at-top
  return as_size(FLAGS[name].value, name) if FLAGS[name].value else None
