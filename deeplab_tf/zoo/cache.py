"""Download, verify, convert and cache a model-zoo checkpoint.

`ensure_converted(entry)` returns `<cache>/zoo/<name>/`, a run directory
(`ckpt-0` + `deeplab_config.json`, see `deeplab_tf.tf1_convert`) that every
tool reads. The first call downloads the tarball with `keras.utils.get_file`
(progress bar), extracts it, finds the checkpoint by its `.index` file,
loads it strictly into the registry's model and writes the run directory;
later calls only check that the directory is there.

Nothing untrustworthy ever sits in the cache: everything happens in a
staging directory beside the entry, and only a run directory that was
converted from a complete archive with a strict load is renamed into place.
A file lock per entry (`fcntl.flock`) makes a concurrent process wait for
the first one and then reuse its result.

Environment:
  DEEPLAB_TF_CACHE    cache root (default `$KERAS_HOME/deeplab_tf`, i.e.
                      `~/.keras/deeplab_tf`).
  DEEPLAB_TF_ZOO_URL  replaces every entry's base URL (a mirror, an offline
                      copy, a local server); file names stay the tarballs'.
"""

import contextlib
import fcntl
import glob
import hashlib
import logging
import os
import shutil
import tempfile
import warnings
from typing import Optional

from deeplab_tf.atomic_io import current_umask, swap_directory
from deeplab_tf.errors import UserError
from deeplab_tf.run_config import CONFIG_FILENAME
from deeplab_tf.zoo.registry import BACKBONE, ZooEntry

CACHE_ENV = "DEEPLAB_TF_CACHE"
URL_ENV = "DEEPLAB_TF_ZOO_URL"
TF1_SUBDIR = "tf1"   # backbone entries keep their TF1 checkpoint here


class ZooError(UserError):
  """A zoo request that cannot be served; the message names the entry and,
  for download problems, the URL and the file."""


def cache_root(cache_dir: Optional[str] = None) -> str:
  """The zoo cache directory: `cache_dir`, `$DEEPLAB_TF_CACHE` or
  `~/.keras/deeplab_tf` (Keras' home, `$KERAS_HOME` if set), + `/zoo`."""
  root = cache_dir or os.environ.get(CACHE_ENV)
  if not root:
    keras_home = os.environ.get("KERAS_HOME") or os.path.join("~", ".keras")
    root = os.path.join(keras_home, "deeplab_tf")
  return os.path.join(os.path.abspath(os.path.expanduser(root)), "zoo")


def entry_url(entry: ZooEntry) -> str:
  """The tarball's URL, under `$DEEPLAB_TF_ZOO_URL` when that is set."""
  base = os.environ.get(URL_ENV) or entry.base_url
  return base.rstrip("/") + "/" + entry.tarball


def run_dir(entry: ZooEntry, cache_dir: Optional[str] = None) -> str:
  return os.path.join(cache_root(cache_dir), entry.name)


def is_complete(path: str) -> bool:
  """True for a finished run directory (they only appear by rename)."""
  return (os.path.isfile(os.path.join(path, CONFIG_FILENAME))
          and os.path.isfile(os.path.join(path, "checkpoint")))


@contextlib.contextmanager
def _entry_lock(root: str, name: str):
  """An exclusive lock per entry, shared by every process using `root`."""
  locks = os.path.join(root, ".locks")
  os.makedirs(locks, exist_ok=True)
  with open(os.path.join(locks, name + ".lock"), "a+") as f:
    try:
      fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      logging.info("zoo: waiting for another process preparing %s", name)
      fcntl.flock(f.fileno(), fcntl.LOCK_EX)
    try:
      yield
    finally:
      fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _sha256(path: str) -> str:
  digest = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      digest.update(block)
  return digest.hexdigest()


def _download_and_extract(entry: ZooEntry, staging: str):
  """Returns (TF1 checkpoint prefix inside the extraction, tarball path)."""
  import keras  # pylint: disable=g-import-not-at-top
  url = entry_url(entry)
  target = os.path.join(staging, "download", entry.tarball)
  try:
    with warnings.catch_warnings():  # "Could not extract": reported below
      warnings.simplefilter("ignore", UserWarning)
      extracted = keras.utils.get_file(
          fname=entry.tarball, origin=url, cache_dir=staging,
          cache_subdir="download", extract=True)
  except Exception as e:  # fetch errors, truncated / corrupt archives
    if os.path.exists(target):  # downloaded, but the archive is broken
      raise ZooError("zoo entry %s: %s downloaded from %s is truncated or "
                     "corrupt (%s: %s); nothing was cached"
                     % (entry.name, entry.tarball, url, type(e).__name__,
                        e)) from None
    raise ZooError("zoo entry %s: downloading %s from %s failed (%s); "
                   "nothing was cached; set %s to a mirror holding %s"
                   % (entry.name, entry.tarball, url, e, URL_ENV,
                      entry.tarball)) from None
  if not os.path.isdir(extracted):
    raise ZooError("zoo entry %s: %s downloaded from %s is not a tar "
                   "archive; nothing was cached" % (entry.name, entry.tarball,
                                                    url))
  indexes = sorted(glob.glob(os.path.join(extracted, "**", "*.index"),
                             recursive=True))
  if len(indexes) != 1:
    found = ", ".join(os.path.relpath(i, extracted) for i in indexes)
    raise ZooError("zoo entry %s: %s downloaded from %s holds %s; expected "
                   "exactly one checkpoint (*.index); nothing was cached"
                   % (entry.name, entry.tarball, url,
                      found or "no checkpoint"))
  return indexes[0][:-len(".index")], target


def _apply_umask(path: str):
  """Staging directories are created private (mkdtemp); give the published
  tree the permissions the user's umask asks for."""
  umask = current_umask()
  for parent, dirs, files in os.walk(path):
    os.chmod(parent, 0o777 & ~umask)
    for name in files:
      os.chmod(os.path.join(parent, name), 0o666 & ~umask)


def _convert(entry: ZooEntry, prefix: str, tarball: str, staging: str
             ) -> str:
  """Strict load into the registry's model, then a run directory."""
  from deeplab_tf.data import get_dataset_descriptor  # pylint: disable=g-import-not-at-top
  from deeplab_tf.data.data_config import DataConfig  # pylint: disable=g-import-not-at-top
  from deeplab_tf.run_config import RunConfig, save_run_config  # pylint: disable=g-import-not-at-top
  from deeplab_tf.tf1_convert import convert_tf1_checkpoint  # pylint: disable=g-import-not-at-top
  backbone_only = entry.kind == BACKBONE
  run = RunConfig(model=entry.options, data=DataConfig(
      descriptor=get_dataset_descriptor(
          "pascal_voc_seg" if backbone_only else entry.dataset),
      crop_size=entry.crop_size))
  out = os.path.join(staging, "run")
  try:
    _, report = convert_tf1_checkpoint(prefix, out, run,
                                       backbone_only=backbone_only)
  except ValueError as e:
    raise ZooError("zoo entry %s: the checkpoint %s in %s (from %s) does "
                   "not load strictly into the registry's model; nothing was "
                   "cached: %s" % (entry.name, os.path.basename(prefix),
                                   entry.tarball, entry_url(entry), e)
                   ) from None
  if backbone_only:
    # train.py initialises any head from the TF1 backbone checkpoint.
    os.makedirs(os.path.join(out, TF1_SUBDIR))
    for path in glob.glob(prefix + ".*"):
      shutil.copy2(path, os.path.join(out, TF1_SUBDIR))
  save_run_config(out, run.replace(origin={
      "zoo": entry.name, "url": entry_url(entry),
      "tarball_sha256": _sha256(tarball),
      "tf1_checkpoint": os.path.basename(prefix),
      "backbone_only": backbone_only, "skip_logits": False,
      "loaded_variables": len(report.loaded)}))
  return out


def ensure_converted(entry: ZooEntry, cache_dir: Optional[str] = None) -> str:
  """The cached run directory of `entry`, downloading and converting it
  first if needed. Raises ZooError naming the URL and file on failure; the
  cache is then as it was."""
  final = run_dir(entry, cache_dir)
  if is_complete(final):
    return final
  root = os.path.dirname(final)
  try:
    os.makedirs(os.path.join(root, ".locks"), exist_ok=True)
  except OSError as e:
    raise ZooError("zoo entry %s: cannot create the cache %s (%s); set %s "
                   "to a writable directory" % (entry.name, root, e,
                                                CACHE_ENV)) from None
  with _entry_lock(root, entry.name):
    if is_complete(final):  # another process finished it while we waited
      return final
    # Holding the lock, any staging directory of this entry is a leftover of
    # a process that died; it was never published.
    for stale in glob.glob(os.path.join(root, ".staging_%s_*" % entry.name)):
      shutil.rmtree(stale, ignore_errors=True)
    staging = tempfile.mkdtemp(dir=root, prefix=".staging_%s_" % entry.name)
    try:
      prefix, tarball = _download_and_extract(entry, staging)
      out = _convert(entry, prefix, tarball, staging)
      _apply_umask(out)
      swap_directory(out, final)  # an incomplete `final` is replaced
    finally:
      shutil.rmtree(staging, ignore_errors=True)
  logging.info("zoo: %s converted and cached in %s", entry.name, final)
  return final
