"""Converts an authors' TF1 checkpoint into a deeplab_tf run directory.

A run directory is what train.py writes and eval.py / export.py read:
`ckpt-<step>` checkpoints plus `deeplab_config.json`. Converting a TF1
checkpoint (which carries no configuration) once, with the model described
by the caller, lets every tool then treat it like a trained run.
`convert_tf1_checkpoint.py`, and `--tf_initial_checkpoint` in eval.py and
export.py, go through here.
"""

import logging
import os
import shutil
from typing import Any, Dict, Optional, Tuple

import tensorflow as tf

from deeplab_tf.atomic_io import make_temp_dir, swap_directory
from deeplab_tf.config import ModelOptions
from deeplab_tf.errors import ConfigError
from deeplab_tf.run_config import save_run_config


def descriptor_dataset_section(dataset: Optional[str],
                               num_classes: Optional[int],
                               dataset_dir: Optional[str] = None
                               ) -> Dict[str, Any]:
  """The `dataset` part of deeplab_config.json for a converted checkpoint.

  Args:
    dataset: a built-in dataset name, a label-map file/directory or a
      DatasetDescriptor (gives class count, ignore label, names and
      colours); None needs num_classes.
    num_classes: class count of the checkpoint's logits (default: the
      dataset's); a dataset with another count is an error.
    dataset_dir: TFRecords later tools read by default (optional).
  """
  from deeplab_tf.data import (DataError, DatasetDescriptor,  # pylint: disable=g-import-not-at-top
                               get_dataset_descriptor)
  if dataset is None:
    if num_classes is None:
      raise ConfigError("give --dataset or --num_classes: the checkpoint has "
                        "no logits that record its class count")
    section = {"name": None, "num_classes": int(num_classes)}
  else:
    try:
      d = (dataset if isinstance(dataset, DatasetDescriptor)
           else get_dataset_descriptor(dataset))
    except DataError as e:  # unknown name, unreadable label map
      raise ConfigError("--dataset=%s: %s" % (dataset, e)) from None
    if num_classes is not None and num_classes != d.num_classes:
      raise ConfigError(
          "--dataset=%s has %d classes but the checkpoint's logits have %d: "
          "give the dataset the checkpoint was trained on"
          % (d.name, d.num_classes, num_classes))
    section = {"name": d.name, "num_classes": int(num_classes
                                                  or d.num_classes),
               "ignore_label": d.ignore_label,
               "class_names": list(d.class_names),
               "colormap": [list(c) for c in d.colormap]}
  if dataset_dir:
    section["dataset_dir"] = os.path.abspath(dataset_dir)
  return section


def convert_tf1_checkpoint(tf1_checkpoint: str, output_dir: str,
                           model_options: ModelOptions,
                           dataset: Dict[str, Any], *,
                           skip_logits: bool = False,
                           backbone_only: bool = False,
                           overwrite: bool = False) -> Tuple[str, Any]:
  """Loads a TF1 checkpoint into `build_model(model_options)` and writes a
  run directory (`ckpt-0` + deeplab_config.json) at `output_dir`.

  The directory is written beside its destination and renamed into place,
  so it is never half-written; an existing non-empty `output_dir` is an
  error unless `overwrite`.

  Returns:
    (checkpoint prefix written, LoadReport of the TF1 load).
  """
  from deeplab_tf.model import build_model  # pylint: disable=g-import-not-at-top
  from deeplab_tf.tf1_checkpoint import load_tf1_checkpoint  # pylint: disable=g-import-not-at-top
  out = os.path.abspath(output_dir)
  if os.path.exists(out) and not os.path.isdir(out):
    raise FileExistsError("--output_dir=%s exists and is not a directory"
                          % out)
  if os.path.isdir(out) and os.listdir(out) and not overwrite:
    raise FileExistsError("--output_dir=%s exists and is not empty: give a "
                          "new or empty directory" % out)
  if dataset.get("num_classes") != model_options.num_classes:
    raise ConfigError("dataset num_classes %r != model num_classes %d"
                      % (dataset.get("num_classes"), model_options.num_classes))
  model = build_model(model_options)
  report = load_tf1_checkpoint(model, tf1_checkpoint, skip_logits=skip_logits,
                               backbone_only=backbone_only)
  logging.info("%s", report)
  parent = os.path.dirname(out)
  os.makedirs(parent, exist_ok=True)
  tmp = make_temp_dir(parent, ".convert_")
  try:
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(model=model),
                                         tmp, max_to_keep=1)
    manager.save(checkpoint_number=0)
    save_run_config(tmp, model_options, dataset, {
        "tf1_checkpoint": report.checkpoint, "skip_logits": skip_logits,
        "backbone_only": backbone_only})
    # An existing `out` (empty, or `overwrite`) goes only once the new
    # directory is complete.
    swap_directory(tmp, out)
  except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    raise
  # The checkpoint state file names its prefix relative to the directory,
  # so the renamed directory is self-consistent.
  return tf.train.latest_checkpoint(out), report


def convert_from_flag_values(tf1_checkpoint: str, output_dir: str,
                             model_values: Dict[str, Any],
                             dataset: Optional[str],
                             dataset_dir: Optional[str] = None,
                             overwrite: bool = False) -> str:
  """`--tf_initial_checkpoint` of eval.py / export.py: the model the
  checkpoint records (tf1_inspect), the given model flag values (authors'
  names; None = not given) filling in what it does not record, and the
  dataset's classes. Returns the run directory written."""
  opts = options_from_flag_values(tf1_checkpoint, model_values)
  section = descriptor_dataset_section(dataset, opts.num_classes, dataset_dir)
  prefix, report = convert_tf1_checkpoint(tf1_checkpoint, output_dir, opts,
                                          section, overwrite=overwrite)
  logging.info("converted %s (%d variables, %s) -> %s", report.checkpoint,
               len(report.loaded), opts.model_variant, prefix)
  return os.path.dirname(prefix)


def options_from_flag_values(tf1_checkpoint: str,
                             model_values: Dict[str, Any],
                             ignore_logits: bool = False) -> ModelOptions:
  """ModelOptions of a TF1 checkpoint from what it records plus the given
  model flags (`train_crop_size`/`crop_size` 'h,w', decoder 'none');
  `ignore_logits`: the class count is the flags' (logits not loaded)."""
  from deeplab_tf.tf1_inspect import NO_DECODER, infer_model_options  # pylint: disable=g-import-not-at-top
  from deeplab_tf.training.resolve import (parse_crop_size,  # pylint: disable=g-import-not-at-top
                                           parse_decoder_output_stride)
  values = {k: v for k, v in model_values.items() if v is not None}
  for flag in ("train_crop_size", "crop_size"):
    if flag in values:
      values["crop_size"] = parse_crop_size(values.pop(flag), flag)
  if "decoder_output_stride" in values:
    values["decoder_output_stride"] = parse_decoder_output_stride(
        values["decoder_output_stride"]) or NO_DECODER
  return infer_model_options(tf1_checkpoint, ignore_logits=ignore_logits,
                             **values)
