"""Finding the newest *intact* checkpoint of a directory.

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
from typing import List, Tuple

import tensorflow as tf

from deeplab_tf.errors import UserError


_STEP_RE = re.compile(r"-(\d+)$")
_TEMP_RE = re.compile(r"^.+-\d+_temp$")


class CorruptCheckpointError(UserError):
  """A checkpoint's files are missing, truncated or corrupt."""


def _step(prefix: str) -> int:
  match = _STEP_RE.search(prefix)
  return int(match.group(1)) if match else -1


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
  rest = sorted(set(listed + indexed), key=_step, reverse=True)
  for prefix in rest:
    if prefix not in found:
      found.append(prefix)
  return [p if os.path.isabs(p) else os.path.join(directory, p)
          for p in found]


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
