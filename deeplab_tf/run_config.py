"""The configuration that travels with a checkpoint, and checkpoint helpers.

train.py (and the TF1 converter and the model zoo) writes
`<train_logdir>/deeplab_config.json` next to the `tf.train.CheckpointManager`
checkpoints (`ckpt-<step>`), so eval.py and export.py need no model flags.
Format 2 stores each thing once:

    {"format_version": 2,
     "model": ModelOptions.to_dict(),
     "data": {"name", "num_classes", "ignore_label", "class_names",
              "colormap", "dataset_dir", "train_split", ["tfds"]},
     "train": {what made the weights: the train.py settings that are not
               in "model" or "data", or the TF1 checkpoint / zoo entry}}

Format 1 (written before 2026-11-30) kept the data under "dataset" and
repeated the model, classes and colours inside "train"; it is still read.

Checkpoints hold `tf.train.Checkpoint(model=..., optimizer=..., step=...)`;
the model's variables are the same objects at every output stride, so a
checkpoint trained at 16 restores into a model built at 8.
"""

import json
import os
from typing import Any, Dict, Optional, Tuple

import tensorflow as tf

from deeplab_tf.atomic_io import atomic_write_text
from deeplab_tf.checkpoint_files import intact_checkpoint_prefix
from deeplab_tf.config import ModelOptions
from deeplab_tf.errors import UserError

CONFIG_FILENAME = "deeplab_config.json"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
# TrainConfig fields that format 2 keeps only in "model" / "data".
_KEPT_ELSEWHERE = ("model", "dataset", "dataset_dir", "ignore_label",
                   "class_names", "colormap", "train_split", "num_classes")


def save_run_config(logdir: str, model_options: ModelOptions,
                    dataset: Dict[str, Any],
                    train: Optional[Dict[str, Any]] = None) -> str:
  """Writes the configuration (format 2) beside the checkpoints; returns
  its path. `train` may be a whole `TrainConfig.to_dict()`: what "model"
  and "data" already hold is not repeated."""
  doc = {"format_version": FORMAT_VERSION,
         "model": model_options.to_dict(),
         "data": dict(dataset),
         "train": {k: v for k, v in (train or {}).items()
                   if k not in _KEPT_ELSEWHERE}}
  path = os.path.join(logdir, CONFIG_FILENAME)
  atomic_write_text(path, json.dumps(doc, indent=2, sort_keys=True) + "\n")
  return path


def load_run_config(checkpoint_dir: str
                    ) -> Tuple[ModelOptions, Dict[str, Any], Dict[str, Any]]:
  """Reads (model options, data dict, train dict) of a run directory
  (format 1 or 2; see the module doc).

  `checkpoint_dir` may also be a checkpoint prefix inside that directory.
  """
  directory = checkpoint_dir
  if not os.path.isdir(directory):
    if not tf.io.gfile.exists(checkpoint_dir + ".index"):
      raise FileNotFoundError(
          "--checkpoint_dir=%s does not exist (neither a directory nor a "
          "checkpoint prefix with a .index file)" % checkpoint_dir)
    directory = os.path.dirname(checkpoint_dir)
  path = os.path.join(directory, CONFIG_FILENAME)
  if not os.path.exists(path):
    raise FileNotFoundError(
        "%s not found: %s has no configuration saved by train.py (pass the "
        "train_logdir, or give the model flags explicitly)"
        % (path, checkpoint_dir))
  with open(path) as f:
    try:
      doc = json.load(f)
    except json.JSONDecodeError as e:
      raise UserError("%s is not valid JSON: %s" % (path, e)) from None
  if not isinstance(doc, dict):
    raise UserError("%s is not a deeplab_tf run configuration (a JSON "
                    "object with 'model')" % path)
  version = doc.get("format_version", 1)
  if version not in READABLE_VERSIONS:
    raise UserError(
        "%s has format_version %r, but this deeplab_tf reads versions %s: "
        "it was written by a newer deeplab_tf; upgrade deeplab_tf to use it"
        % (path, version, ", ".join(map(str, READABLE_VERSIONS))))
  try:
    opts = ModelOptions.from_dict(doc["model"])
  except (KeyError, TypeError, ValueError) as e:
    raise UserError("%s: bad 'model' section: %s" % (path, e)) from None
  data = doc.get("dataset" if version == 1 else "data") or {}
  return opts, dict(data), dict(doc.get("train") or {})


def restore_model(model, checkpoint_dir_or_prefix: str) -> str:
  """Restores the model weights of a train.py checkpoint; returns the prefix.

  A directory gives its newest intact checkpoint. Optimizer slots and the
  step are ignored; a model weight the checkpoint lacks is an error.
  """
  prefix = intact_checkpoint_prefix(checkpoint_dir_or_prefix)
  try:
    status = tf.train.Checkpoint(model=model).restore(prefix)
  except tf.errors.NotFoundError:
    raise FileNotFoundError("checkpoint %s vanished while it was restored"
                            % prefix) from None
  status.expect_partial()
  status.assert_existing_objects_matched()
  return prefix
