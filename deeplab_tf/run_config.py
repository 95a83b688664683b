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
import tempfile
from typing import Any, Dict, Optional, Tuple

import tensorflow as tf

from deeplab_tf.config import ModelOptions

CONFIG_FILENAME = "deeplab_config.json"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
# TrainConfig fields that format 2 keeps only in "model" / "data".
_KEPT_ELSEWHERE = ("model", "dataset", "dataset_dir", "ignore_label",
                   "class_names", "colormap", "train_split", "num_classes")


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
      raise ValueError("%s is not valid JSON: %s" % (path, e)) from None
  if not isinstance(doc, dict):
    raise ValueError("%s is not a deeplab_tf run configuration (a JSON "
                     "object with 'model')" % path)
  version = doc.get("format_version", 1)
  if version not in READABLE_VERSIONS:
    raise ValueError(
        "%s has format_version %r, but this deeplab_tf reads versions %s: "
        "it was written by a newer deeplab_tf; upgrade deeplab_tf to use it"
        % (path, version, ", ".join(map(str, READABLE_VERSIONS))))
  try:
    opts = ModelOptions.from_dict(doc["model"])
  except (KeyError, TypeError, ValueError) as e:
    raise ValueError("%s: bad 'model' section: %s" % (path, e)) from None
  data = doc.get("dataset" if version == 1 else "data") or {}
  return opts, dict(data), dict(doc.get("train") or {})


def latest_checkpoint(checkpoint_dir_or_prefix: str) -> str:
  """Resolves a directory to its newest intact checkpoint prefix (newer,
  unreadable ones are skipped with a warning), or checks a prefix."""
  from deeplab_tf import checkpoint_integrity
  if tf.io.gfile.isdir(checkpoint_dir_or_prefix):
    return checkpoint_integrity.newest_intact_checkpoint(
        checkpoint_dir_or_prefix)[0]
  checkpoint_integrity.verify_checkpoint(checkpoint_dir_or_prefix)
  return checkpoint_dir_or_prefix


def restore_model(model, checkpoint_dir_or_prefix: str) -> str:
  """Restores the model weights of a train.py checkpoint; returns the prefix.

  A directory gives its newest intact checkpoint. Optimizer slots and the
  step are ignored; a model weight the checkpoint lacks is an error.
  """
  prefix = latest_checkpoint(checkpoint_dir_or_prefix)
  try:
    status = tf.train.Checkpoint(model=model).restore(prefix)
  except tf.errors.NotFoundError:
    raise FileNotFoundError("checkpoint %s vanished while it was restored"
                            % prefix) from None
  status.expect_partial()
  status.assert_existing_objects_matched()
  return prefix
