"""Writing files and directories so that nothing is ever seen half-written.

A file is written complete (flushed to disk) to a hidden temporary file
beside its destination and renamed into place; a directory is staged under
a hidden temporary name and swapped into place, the old one removed only
once the new one is there. Everything gets the mode a plain `open()` /
`mkdir()` would give it (0666 / 0777 less the user's umask), not the
private 0600 / 0700 of `tempfile`, so other users (a TF Serving process, a
TensorBoard) can read what the umask allows.
"""

import os
import shutil
import tempfile


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


def swap_directory(staged: str, final: str) -> str:
  """Renames the complete directory `staged` to `final` (same filesystem).

  An existing `final` is first moved into a hidden temporary directory
  beside it and removed only once `staged` is in place, so `final` is at
  every moment either the old or the new complete directory. Returns final.
  """
  if os.path.exists(final):
    parent = os.path.dirname(os.path.abspath(final))
    old = make_temp_dir(parent, ".old_%s_" % os.path.basename(final))
    os.replace(final, os.path.join(old, os.path.basename(final)))
    os.replace(staged, final)
    shutil.rmtree(old, ignore_errors=True)
  else:
    os.replace(staged, final)
  return final
