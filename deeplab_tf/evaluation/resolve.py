"""eval.py's settings -> one RunConfig with its eval section.

A train.py run directory brings its model and data (deeplab_config.json);
only the eval-time changes below may differ. An authors' TF1 checkpoint
brings the model it records (tf1_convert.tf1_run_config) and is evaluated in
memory: nothing is converted or written besides the metrics.
"""

import dataclasses
import os
from typing import Any, Dict, Optional

from deeplab_tf.config import ModelOptions
from deeplab_tf.data import (LABEL_MAP_FILENAME, DataError,
                             get_dataset_descriptor)
from deeplab_tf.errors import ConfigError
from deeplab_tf.evaluation.config import EvalConfig
from deeplab_tf.run_config import RunConfig, load_run_config
from deeplab_tf.sliding_window import SlidingWindow

# Model flags that may differ from the saved configuration at evaluation.
EVAL_OVERRIDABLE = ("output_stride", "atrous_rates")


def eval_run_from_checkpoint(checkpoint_dir: str, eval_logdir: str, *,
                             overrides: Optional[Dict[str, Any]] = None,
                             model_flags: Optional[Dict[str, Any]] = None,
                             eval_split: str = "val",
                             sliding: Optional[Dict[str, Any]] = None,
                             **eval_fields) -> RunConfig:
  """The RunConfig of `<checkpoint_dir>/deeplab_config.json`, evaluated.

  Args:
    checkpoint_dir: train_logdir (or a checkpoint prefix in it).
    eval_logdir: output directory.
    overrides: eval-time changes: eval_crop_size, output_stride,
      atrous_rates, dataset_dir, tfds_data_dir (a saved TFDS dataset
      moved), tfds (a TfdsSource to evaluate on, whose classes must be
      the checkpoint's) (None values ignored).
    model_flags: the other model flags the user gave (only those given;
      None means an explicit 'none'); each must equal the saved
      value (a mismatch is an error naming the flag: it would silently give
      wrong predictions).
    eval_split: the split evaluated.
    sliding: sliding-window inference: SlidingWindow's fields, where a
      window_size of None is the eval crop (None: whole images).
    **eval_fields: the remaining EvalConfig fields.
  """
  run = load_run_config(checkpoint_dir)
  overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
  _check_model_flags(run.model, model_flags or {}, checkpoint_dir)
  model = run.model
  if "output_stride" in overrides:
    model = model.for_output_stride(int(overrides["output_stride"]))
  if "atrous_rates" in overrides:
    model = model.replace(atrous_rates=tuple(overrides["atrous_rates"])
                          or None)
  data = run.data.replace(
      eval_split=eval_split,
      dataset_dir=overrides.get("dataset_dir") or run.data.dataset_dir,
      tfds=_tfds_source(run.data, overrides))
  if data.tfds is None:
    check_dataset_dir_matches(data, checkpoint_dir)
  if eval_fields.get("max_number_of_evaluations", 1) != 1 and run.train:
    # Continuous mode ends once the run's final checkpoint is evaluated.
    eval_fields.setdefault("stop_at_step",
                           run.train.training_number_of_steps)
  crop = overrides.get("eval_crop_size") or data.crop_size
  evaluation = EvalConfig(
      checkpoint=checkpoint_dir, eval_logdir=eval_logdir, crop_size=crop,
      window=sliding_window(sliding, crop), **eval_fields)
  return run.replace(model=model, data=data, eval=evaluation)


def sliding_window(settings: Optional[Dict[str, Any]], crop_size):
  """The SlidingWindow of `settings` (window_size None: the eval crop)."""
  if settings is None:
    return None
  try:
    return SlidingWindow(**dict(settings, window_size=settings.get(
        "window_size") or crop_size))
  except ValueError as e:
    raise ConfigError("--inference_mode=sliding: %s" % e) from None


def eval_run_from_tf1(tf1_checkpoint: str, eval_logdir: str, *,
                      model_values: Dict[str, Any], dataset=None,
                      dataset_dir: str = "", tfds=None,
                      eval_split: str = "val", crop_size=None,
                      sliding: Optional[Dict[str, Any]] = None,
                      **eval_fields) -> RunConfig:
  """The RunConfig of an authors' TF1 checkpoint, evaluated in memory.

  `model_values`: the model flags given (authors' names, None = unset);
  what the checkpoint records is read from it and a contradicting flag is
  an error naming both. `dataset` (or the TfdsSource `tfds`) gives the
  class names; `crop_size` defaults to the paper's 513x513.
  """
  from deeplab_tf.tf1_convert import tf1_run_config  # pylint: disable=g-import-not-at-top
  if eval_fields.get("max_number_of_evaluations", 1) != 1:
    raise ConfigError("--max_number_of_evaluations: a TF1 checkpoint is one "
                      "fixed checkpoint; evaluate it once (1)")
  run = tf1_run_config(tf1_checkpoint, model_values, dataset,
                       dataset_dir=dataset_dir, tfds=tfds, crop_size=crop_size)
  data = run.data.replace(eval_split=eval_split)
  if tfds is None:
    check_dataset_dir_matches(data, tf1_checkpoint)
  evaluation = EvalConfig(checkpoint=tf1_checkpoint, eval_logdir=eval_logdir,
                          crop_size=data.crop_size,
                          window=sliding_window(sliding, data.crop_size),
                          **eval_fields)
  return run.replace(data=data, eval=evaluation)


def _check_model_flags(model: ModelOptions, model_flags: Dict[str, Any],
                       checkpoint_dir: str):
  """Each given model flag must equal the saved value."""
  saved = model.to_dict()
  for name, value in model_flags.items():
    if name not in saved:
      raise ConfigError("--%s is not a model option" % name)
    try:
      same = ModelOptions.from_dict(dict(saved, **{name: value})) == model
    except ValueError:
      same = False
    if not same:
      raise ConfigError(
          "--%s=%r conflicts with the checkpoint's configuration (%s=%r in "
          "%s/deeplab_config.json); the model flags come from the checkpoint "
          "and only %s, eval_crop_size, eval_scales and add_flipped_images "
          "may change at evaluation"
          % (name, value, name, saved[name], checkpoint_dir,
             ", ".join(EVAL_OVERRIDABLE)))


def _tfds_source(data, overrides: Dict[str, Any]):
  """The TFDS source to evaluate on: given, or saved by train.py."""
  from deeplab_tf.data import tfds_source  # pylint: disable=g-import-not-at-top
  source = overrides.get("tfds")
  if source is not None:
    d = tfds_source.descriptor_for(source)
    if (d.num_classes, d.ignore_label) != (data.num_classes,
                                           data.ignore_label):
      raise ConfigError(
          "--dataset=%s has %d classes and ignore label %d but the checkpoint "
          "was trained for %d classes, ignore label %d"
          % (source.dataset, d.num_classes, d.ignore_label, data.num_classes,
             data.ignore_label))
    return source
  if data.tfds is None:
    if overrides.get("tfds_data_dir"):
      raise ConfigError("--tfds_data_dir: the checkpoint was not trained on a "
                        "TFDS dataset (give --dataset=tfds:<name> to evaluate "
                        "on one)")
    return None
  if overrides.get("tfds_data_dir"):
    return dataclasses.replace(data.tfds, data_dir=overrides["tfds_data_dir"])
  return data.tfds


def check_dataset_dir_matches(data, checkpoint: str):
  """ConfigError naming both when the data's directory holds a
  label_map.json of other classes than the checkpoint's (another dataset's
  records)."""
  path = os.path.join(data.dataset_dir or "", LABEL_MAP_FILENAME)
  if not data.dataset_dir or not os.path.isfile(path):
    return
  try:
    found = get_dataset_descriptor(path)
  except DataError as e:
    raise ConfigError("--dataset_dir=%s: %s" % (data.dataset_dir, e)) from None
  names = data.class_names
  generic = all(n == "class_%d" % i for i, n in enumerate(names))  # --num_classes
  if (found.ignore_label != data.ignore_label
      or found.num_classes > data.num_classes
      or (not generic and names[:found.num_classes] != found.class_names)):
    raise ConfigError(
        "--dataset_dir=%s holds dataset %s (%d classes, ignore label %d, %s) "
        "but the checkpoint in %s was trained on dataset %s (%d classes, "
        "ignore label %d); evaluate it on its own dataset's records"
        % (data.dataset_dir, found.name, found.num_classes,
           found.ignore_label, path, checkpoint, data.name or "?",
           data.num_classes, data.ignore_label))
