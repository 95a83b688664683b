"""The configuration that travels with a checkpoint, and checkpoint helpers.

train.py writes `<train_logdir>/deeplab_config.json` next to the
`tf.train.CheckpointManager` checkpoints (`ckpt-<step>`), so eval.py and
export.py need no model flags:

    {"model": ModelOptions.to_dict(),
     "dataset": {"name", "num_classes", "ignore_label", "class_names",
                 "colormap", "dataset_dir", ...},
     "train": {flag: value, ...},
     "format_version": 1}

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

CONFIG_FILENAME = "deeplab_config.json"
FORMAT_VERSION = 1


def save_run_config(logdir: str, model_options: ModelOptions,
                    dataset: Dict[str, Any],
                    train: Optional[Dict[str, Any]] = None) -> str:
  """Writes the configuration beside the checkpoints; returns its path."""
  doc = {"format_version": FORMAT_VERSION,
         "model": model_options.to_dict(),
         "dataset": dict(dataset),
         "train": dict(train or {})}
  path = os.path.join(logdir, CONFIG_FILENAME)
  atomic_write_text(path, json.dumps(doc, indent=2, sort_keys=True) + "\n")
  return path


def load_run_config(checkpoint_dir: str
                    ) -> Tuple[ModelOptions, Dict[str, Any], Dict[str, Any]]:
  """Reads (model options, dataset dict, train dict) saved by train.py.

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
      raise ValueError("%s is not valid JSON: %s" % (path, e)) from None
  try:
    opts = ModelOptions.from_dict(doc["model"])
  except (KeyError, TypeError, ValueError) as e:
    raise ValueError("%s: bad 'model' section: %s" % (path, e)) from None
  return opts, doc.get("dataset", {}), doc.get("train", {})


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
