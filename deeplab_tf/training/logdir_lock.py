"""An exclusive lock on a training logdir: one training writes there.

Two trainings into one `--train_logdir` would replace each other's
checkpoints. `LogdirLock` holds `fcntl.flock` on `<logdir>/train.lock`
(released by the kernel when the process dies, kill -9 included) and writes
the holder's host, pid and start time into the file for the message the
next run shows. A lock file naming a process that no longer holds it is
stale: it is taken over, saying so. The file is never deleted (deleting a
locked file would let two runs lock two different files).
"""

import errno
import fcntl
import json
import logging
import os
import socket
import time
from typing import Optional

from deeplab_tf.errors import UserError

LOCK_FILENAME = "train.lock"


class LogdirLockedError(UserError, RuntimeError):
  """Another process holds the logdir's lock (a UserError: command lines
  print it on one line)."""


def _holder_text(info: dict) -> str:
  if not info:
    return "an unknown process"
  started = info.get("started")
  when = (time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started))
          if isinstance(started, (int, float)) else "?")
  return "pid %s on host %s (started %s)" % (info.get("pid", "?"),
                                             info.get("host", "?"), when)


def _pid_alive(pid: int) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    return True
  return True


class LogdirLock:
  """`with LogdirLock(logdir):` or acquire()/release().

  Raises:
    LogdirLockedError: another live process holds the lock (message names
      its host and pid).
    OSError: the lock file cannot be created (read-only logdir, ...).
  """

  def __init__(self, logdir: str):
    self.logdir = logdir
    self.path = os.path.join(logdir, LOCK_FILENAME)
    self._fd: Optional[int] = None
    self.took_over: Optional[dict] = None

  def _read(self) -> dict:
    try:
      with open(self.path) as f:
        return json.loads(f.read() or "{}")
    except (OSError, ValueError):
      return {}

  def acquire(self) -> "LogdirLock":
    fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
      os.close(fd)
      if e.errno not in (errno.EWOULDBLOCK, errno.EACCES, errno.EAGAIN):
        raise
      raise LogdirLockedError(
          "--train_logdir=%s is in use by another training: %s holds %s; "
          "wait for it to finish or use another --train_logdir"
          % (self.logdir, _holder_text(self._read()), self.path)) from None
    previous = self._read()
    host = socket.gethostname()
    if previous.get("pid") is not None:
      # The previous holder did not release the lock (it was killed).
      if previous.get("host") not in (None, host):
        # flock may not reach across hosts on a network filesystem.
        os.close(fd)
        raise LogdirLockedError(
            "--train_logdir=%s is locked by %s (another host, which this "
            "one cannot check); if that training is no longer running, "
            "delete %s" % (self.logdir, _holder_text(previous), self.path))
      if _pid_alive(int(previous["pid"])) and previous["pid"] != os.getpid():
        logging.warning("lock %s names pid %s, which runs but no longer "
                        "holds it (pid reused?); taking it over", self.path,
                        previous["pid"])
      self.took_over = previous
      logging.warning("taking over the stale lock %s of %s, which is no "
                      "longer running", self.path, _holder_text(previous))
    os.ftruncate(fd, 0)
    os.write(fd, json.dumps({"host": host, "pid": os.getpid(),
                             "started": time.time()}).encode())
    os.fsync(fd)
    self._fd = fd
    return self

  def release(self):
    if self._fd is None:
      return
    try:
      os.ftruncate(self._fd, 0)
    except OSError:
      pass  # a full or read-only disk: the next run sees a stale lock
    fcntl.flock(self._fd, fcntl.LOCK_UN)
    os.close(self._fd)
    self._fd = None

  def __enter__(self):
    return self.acquire()

  def __exit__(self, *exc):
    self.release()
