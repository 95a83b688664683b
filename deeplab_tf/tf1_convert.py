"""Converts an authors' TF1 checkpoint into a deeplab_tf run directory.

A run directory is what train.py writes and eval.py / export.py read:
`ckpt-<step>` checkpoints plus `deeplab_config.json`. A TF1 checkpoint
carries no configuration: `tf1_run_config` reads what its variables record
(the class count, backbone, ASPP branches, decoder) and the caller's flags
give the rest. eval.py and export.py evaluate / export a TF1 checkpoint in
memory with that RunConfig; `convert_tf1_checkpoint.py` and the model zoo
write it out once as a run directory.
"""

import logging
import os
import shutil
from typing import Any, Dict, Optional, Tuple

import tensorflow as tf

from deeplab_tf.atomic_io import make_temp_dir, swap_directory
from deeplab_tf.config import ModelOptions
from deeplab_tf.data import (DataError, DatasetDescriptor,
                             get_dataset_descriptor)
from deeplab_tf.data.data_config import (PAPER_CROP_SIZE, DataConfig,
                                         generic_descriptor)
from deeplab_tf.errors import ConfigError
from deeplab_tf.run_config import RunConfig, save_run_config


def checkpoint_descriptor(dataset, num_classes: Optional[int]
                          ) -> DatasetDescriptor:
  """The classes of a TF1 checkpoint's logits.

  Args:
    dataset: a built-in dataset name, a label-map file/directory or a
      DatasetDescriptor (class count, ignore label, names and colours);
      None gives numbered classes and needs num_classes.
    num_classes: class count of the checkpoint's logits (default: the
      dataset's); a dataset with another count is an error.
  """
  if dataset is None:
    if num_classes is None:
      raise ConfigError("give --dataset or --num_classes: the checkpoint has "
                        "no logits that record its class count")
    return generic_descriptor("", int(num_classes))
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
  return d


def tf1_run_config(tf1_checkpoint: str, model_values: Dict[str, Any],
                   dataset=None, *, dataset_dir: str = "", tfds=None,
                   crop_size=None, ignore_logits: bool = False) -> RunConfig:
  """The RunConfig of an authors' TF1 checkpoint: the model it records
  (tf1_inspect) with the given model flag values (authors' names; None =
  not given) filling in what it does not record, and the dataset's classes
  (`checkpoint_descriptor`; a TfdsSource `tfds` brings its own). Nothing is
  read but the checkpoint's variable list."""
  opts = options_from_flag_values(tf1_checkpoint, model_values,
                                  ignore_logits=ignore_logits)
  if tfds is not None:
    from deeplab_tf.data.tfds_source import descriptor_for  # pylint: disable=g-import-not-at-top
    dataset = descriptor_for(tfds)
  data = DataConfig(descriptor=checkpoint_descriptor(dataset,
                                                     opts.num_classes),
                    dataset_dir=dataset_dir or "", tfds=tfds,
                    crop_size=crop_size or PAPER_CROP_SIZE)
  return RunConfig(model=opts, data=data,
                   origin={"tf1_checkpoint": os.path.abspath(tf1_checkpoint)})


def convert_tf1_checkpoint(tf1_checkpoint: str, output_dir: str,
                           run: RunConfig, *, skip_logits: bool = False,
                           backbone_only: bool = False,
                           overwrite: bool = False) -> Tuple[str, Any]:
  """Loads a TF1 checkpoint into `build_model(run.model)` and writes a run
  directory (`ckpt-0` + deeplab_config.json of `run`) at `output_dir`.

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
  model = build_model(run.model)
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
    save_run_config(tmp, run.replace(origin=dict(
        run.origin or {}, tf1_checkpoint=report.checkpoint,
        skip_logits=skip_logits, backbone_only=backbone_only)))
    # An existing `out` (empty, or `overwrite`) goes only once the new
    # directory is complete.
    swap_directory(tmp, out)
  except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    raise
  # The checkpoint state file names its prefix relative to the directory,
  # so the renamed directory is self-consistent.
  return tf.train.latest_checkpoint(out), report


def options_from_flag_values(tf1_checkpoint: str,
                             model_values: Dict[str, Any],
                             ignore_logits: bool = False) -> ModelOptions:
  """ModelOptions of a TF1 checkpoint from what it records plus the given
  model flags (decoder 'none'); `ignore_logits`: the class count is the
  flags' (logits not loaded)."""
  from deeplab_tf.tf1_inspect import NO_DECODER, infer_model_options  # pylint: disable=g-import-not-at-top
  from deeplab_tf.config import parse_decoder_output_stride  # pylint: disable=g-import-not-at-top
  values = {k: v for k, v in model_values.items() if v is not None}
  if "decoder_output_stride" in values:
    values["decoder_output_stride"] = parse_decoder_output_stride(
        values["decoder_output_stride"]) or NO_DECODER
  return infer_model_options(tf1_checkpoint, ignore_logits=ignore_logits,
                             **values)
