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
import tempfile
from typing import Any, Dict, Optional, Tuple

import tensorflow as tf

from deeplab_tf.checkpoint_files import intact_checkpoint_prefix
from deeplab_tf.config import ModelOptions

CONFIG_FILENAME = "deeplab_config.json"
FORMAT_VERSION = 1


def current_umask() -> int:
  """The process umask, read from /proc where possible.

  `os.umask` can only be read by setting it, which briefly changes it for
  every thread of the process; the fallback restores it at once.
  """
  try:
    with open("/proc/self/status") as f:
      for line in f:
        if line.startswith("Umask:"):
          return int(line.split()[1], 8)
  except (OSError, ValueError, IndexError):
    pass
  mask = os.umask(0o022)
  os.umask(mask)
  return mask


def write_temp_file(path: str, data: bytes) -> str:
  """Writes `data` to a new hidden file beside `path`; returns its name.

  The file is complete (flushed to disk) and has the mode a plain `open()`
  would give it (0666 less the umask, not mkstemp's private 0600), so once
  renamed to `path` other users (a TF Serving process, a TensorBoard) can
  read what the umask allows. The caller renames or removes it.
  """
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp_",
                             suffix=os.path.basename(path))
  try:
    with os.fdopen(fd, "wb") as f:
      f.write(data)
      f.flush()
      os.fsync(f.fileno())
      os.fchmod(f.fileno(), 0o666 & ~current_umask())
  except BaseException:
    os.remove(tmp)
    raise
  return tmp


def atomic_write_bytes(path: str, data: bytes):
  """Writes `data` to `path` through a temporary file and a rename."""
  tmp = write_temp_file(path, data)
  try:
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def make_temp_dir(parent: str, prefix: str) -> str:
  """A new hidden directory in `parent`, with the mode the umask gives.

  For contents renamed into place when complete (tempfile.mkdtemp alone
  makes it 0700, which then sticks to the published directory).
  """
  os.makedirs(parent, exist_ok=True)
  path = tempfile.mkdtemp(dir=parent, prefix=prefix)
  os.chmod(path, 0o777 & ~current_umask())
  return path


def atomic_write_text(path: str, text: str):
  """Writes `text` (UTF-8) to `path` through a temporary file and a rename."""
  atomic_write_bytes(path, text.encode("utf-8"))


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
