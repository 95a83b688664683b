"""Which checkpoint a path means, what kind it is, its step, and whether
it reads in full.

  * `resolve_checkpoint_prefix`: any checkpoint path (a prefix, a train.py
    directory, an unpacked model-zoo tarball holding one `model.ckpt`) ->
    its prefix; `is_tf1_checkpoint`: name-based (TF1 Saver) or object-based
    (TF2, train.py);
  * `intact_checkpoint_prefix`: a train.py run directory -> its newest
    checkpoint that reads in full (see below), or a prefix, verified;
  * `prefix_step`: the N of a `ckpt-N` prefix; `trained_step`: the
    training step a checkpoint stores (`step` of train.py, `global_step` of
    TF1), else `prefix_step`.

A checkpoint is read in full before it is used: every tensor of
`<prefix>.index` / `<prefix>.data-*` is read through TensorFlow's bundle
reader, which checks each tensor's stored CRC32C, so truncated and
bit-flipped files are found before any variable is assigned. Restoring from
a directory falls back to the newest checkpoint that reads, saying which
ones were skipped and why; a checkpoint that vanished (rotated away by
`max_to_keep`) is skipped the same way.
"""

import logging
import os
import re
import shutil
from typing import List, Optional, Tuple

import tensorflow as tf

from deeplab_tf.errors import UserError


_STEP_RE = re.compile(r"-(\d+)$")
_TEMP_RE = re.compile(r"^.+-\d+_temp$")
# The key under which a TF2 (object-based) checkpoint stores its object
# graph; TF1 (name-based) checkpoints have none.
TF2_OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"


class CorruptCheckpointError(UserError):
  """A checkpoint's files are missing, truncated or corrupt."""


def prefix_step(prefix: str) -> Optional[int]:
  """The N of a `<name>-N` checkpoint prefix, or None."""
  match = _STEP_RE.search(os.path.basename(prefix))
  return int(match.group(1)) if match else None


def trained_step(prefix: str) -> Optional[int]:
  """The training step stored in a checkpoint (train.py's `step`, TF1's
  `global_step`), else its `prefix_step`."""
  try:
    reader = tf.train.load_checkpoint(prefix)
    for key in ("step/.ATTRIBUTES/VARIABLE_VALUE", "global_step"):
      if reader.has_tensor(key):
        return int(reader.get_tensor(key))
  except (tf.errors.NotFoundError, ValueError):
    pass
  return prefix_step(prefix)


def resolve_checkpoint_prefix(checkpoint: str) -> str:
  """A checkpoint prefix from a prefix or a directory (the `checkpoint`
  state file's latest; else the directory's only `*.index`: model-zoo
  tarballs unpack to a directory holding `model.ckpt.index` / `.data-*`).
  Nothing is read or verified."""
  if tf.io.gfile.isdir(checkpoint):
    prefix = tf.train.latest_checkpoint(checkpoint)
    if prefix is not None:
      return prefix
    indexes = sorted(tf.io.gfile.glob(os.path.join(checkpoint, "*.index")))
    if len(indexes) == 1:
      return indexes[0][:-len(".index")]
    if not indexes:
      raise FileNotFoundError("no checkpoint (*.index) in directory %s"
                              % checkpoint)
    raise UserError("directory %s holds several checkpoints (%s); pass a "
                    "prefix" % (checkpoint, ", ".join(indexes)))
  if not tf.io.gfile.exists(checkpoint + ".index"):
    raise FileNotFoundError("checkpoint %s not found (no %s.index)"
                            % (checkpoint, checkpoint))
  return checkpoint


def is_tf1_checkpoint(checkpoint: str) -> bool:
  """True for name-based (TF1 Saver) checkpoints, False for TF2 object-based
  ones (which carry an object graph). `checkpoint`: a prefix or directory."""
  prefix = resolve_checkpoint_prefix(checkpoint)
  names = {name for name, _ in tf.train.list_variables(prefix)}
  return TF2_OBJECT_GRAPH_KEY not in names


def _newest_first(prefix: str) -> int:
  step = prefix_step(prefix)
  return -1 if step is None else step


def checkpoint_prefixes(directory: str) -> List[str]:
  """Checkpoint prefixes in `directory`, newest first: the `checkpoint`
  state file's latest, then every `<name>-<step>.index` by step."""
  found = []
  try:
    state = tf.train.get_checkpoint_state(directory)
  except (tf.errors.OpError, ValueError):  # a damaged state file
    state = None
  if state is not None and state.model_checkpoint_path:
    found.append(state.model_checkpoint_path)
  listed = list(state.all_model_checkpoint_paths) if state else []
  indexed = [os.path.join(directory, name[:-len(".index")])
             for name in tf.io.gfile.listdir(directory)
             if name.endswith(".index")]
  rest = sorted(set(listed + indexed), key=_newest_first, reverse=True)
  for prefix in rest:
    if prefix not in found:
      found.append(prefix)
  # get_checkpoint_state already joins the state file's relative paths with
  # `directory` (joining again broke relative directories: runs/default).
  return found


def verify_checkpoint(prefix: str):
  """Reads every tensor of `prefix`; CorruptCheckpointError naming the
  prefix and the reason if that fails (FileNotFoundError if it is gone)."""
  if not tf.io.gfile.exists(prefix + ".index"):
    raise FileNotFoundError("checkpoint %s not found (no %s.index)"
                            % (prefix, prefix))
  try:
    reader = tf.train.load_checkpoint(prefix)
    for key in reader.get_variable_to_shape_map():
      reader.get_tensor(key)
  except tf.errors.NotFoundError as e:
    if not tf.io.gfile.exists(prefix + ".index"):
      raise FileNotFoundError("checkpoint %s vanished while it was read"
                              % prefix) from None
    raise CorruptCheckpointError("checkpoint %s is incomplete (%s)"
                                 % (prefix, _first_line(e))) from None
  except (tf.errors.OpError, ValueError, IndexError, RuntimeError,
          OSError) as e:
    raise CorruptCheckpointError("checkpoint %s is truncated or corrupt "
                                 "(%s)" % (prefix, _first_line(e))) from None


def _first_line(error) -> str:
  text = getattr(error, "message", None) or str(error)
  return text.strip().splitlines()[0] if text.strip() else type(error).__name__


def newest_intact_checkpoint(directory: str) -> Tuple[str, List[str]]:
  """(newest prefix that reads in full, reasons for the newer ones skipped).

  Raises:
    FileNotFoundError: no checkpoint in `directory`.
    CorruptCheckpointError: none of them reads (every reason listed).
  """
  prefixes = checkpoint_prefixes(directory)
  if not prefixes:
    raise FileNotFoundError("no checkpoint in %s" % directory)
  skipped = []
  for prefix in prefixes:
    try:
      verify_checkpoint(prefix)
    except (FileNotFoundError, CorruptCheckpointError) as e:
      skipped.append(str(e))
      continue
    for reason in skipped:
      logging.warning("%s; falling back to %s", reason, prefix)
    return prefix, skipped
  raise CorruptCheckpointError("no intact checkpoint in %s: %s"
                               % (directory, "; ".join(skipped)))


def intact_checkpoint_prefix(checkpoint_dir_or_prefix: str) -> str:
  """A train.py directory's newest intact checkpoint prefix (newer,
  unreadable ones are skipped with a warning), or a prefix, verified."""
  if tf.io.gfile.isdir(checkpoint_dir_or_prefix):
    return newest_intact_checkpoint(checkpoint_dir_or_prefix)[0]
  verify_checkpoint(checkpoint_dir_or_prefix)
  return checkpoint_dir_or_prefix


def remove_stale_temporaries(directory: str) -> List[str]:
  """Deletes `<name>-<step>_temp/` folders a killed save left behind.

  Only the process that owns the directory (holding its lock) may call it:
  a running save writes into such a folder.
  """
  removed = []
  if not tf.io.gfile.isdir(directory):
    return removed
  for name in tf.io.gfile.listdir(directory):
    name = name.rstrip("/")
    path = os.path.join(directory, name)
    if _TEMP_RE.match(name) and tf.io.gfile.isdir(path):
      shutil.rmtree(path, ignore_errors=True)
      removed.append(path)
      logging.info("removed %s, left by an interrupted checkpoint save",
                   path)
  return removed
