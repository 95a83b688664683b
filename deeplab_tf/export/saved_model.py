"""Writing the SavedModel in the TF Serving layout, atomically.

TF Serving watches a base directory and serves its highest numeric
subdirectory, `<export_dir>/<version>/`. The model is saved into a hidden
temporary directory beside it (a name TF Serving ignores) and renamed into
place, so a server never sees a half-written version; export.lib publishes
it only after every other output of the export is complete.
"""

import os
import shutil
from typing import Optional

import tensorflow as tf

from deeplab_tf.atomic_io import make_temp_dir, swap_directory
from deeplab_tf.errors import ConfigError
from deeplab_tf.checkpoint_files import prefix_step

ASSETS_EXTRA = "assets.extra"


def default_version(prefix: str) -> int:
  """The checkpoint step (so newer checkpoints get higher versions), >= 1."""
  step = prefix_step(prefix)
  return max(step, 1) if step is not None else 1


def version_dir(export_dir: str, version: int) -> str:
  """`<export_dir>/<version>`; the version must be a positive integer."""
  if int(version) < 1:
    raise ConfigError("version must be a positive integer, got %r" % version)
  return os.path.join(export_dir, str(int(version)))


def check_free(export_dir: str, version: int, overwrite: bool) -> str:
  """The version directory, or FileExistsError unless `overwrite`."""
  final = version_dir(export_dir, version)
  if os.path.exists(final) and not overwrite:
    raise FileExistsError("%s already exists (pass --overwrite, or another "
                          "--version)" % final)
  return final


def staging_dir(export_dir: str, version: int) -> str:
  """A new hidden directory in `export_dir` (TF Serving ignores it).

  Made first, so an export directory that cannot be written fails before
  any work is done.
  """
  return make_temp_dir(export_dir, ".tmp-%d-" % int(version))


def save_into(module, directory: str,
              extra_files: Optional[dict] = None):
  """Saves `module` (its `signatures()`) into the existing `directory`.

  `extra_files` {name: text} go to `assets.extra/` (files TF Serving
  ignores, e.g. the run configuration).
  """
  tf.saved_model.save(module, directory, signatures=module.signatures())
  if extra_files:
    os.makedirs(os.path.join(directory, ASSETS_EXTRA), exist_ok=True)
    for name, text in extra_files.items():
      with open(os.path.join(directory, ASSETS_EXTRA, name), "w") as f:
        f.write(text)


def publish(staged: str, export_dir: str, version: int, *,
            overwrite: bool = False) -> str:
  """Renames a complete staged SavedModel to `<export_dir>/<version>`."""
  return swap_directory(staged, check_free(export_dir, version, overwrite))


def write_saved_model(module, export_dir: str, version: int, *,
                      overwrite: bool = False,
                      extra_files: Optional[dict] = None) -> str:
  """Saves `module` (a DeepLabServingModule) as `<export_dir>/<version>`.

  Args:
    module: has `signatures()` returning {name: concrete function}.
    export_dir: the TF Serving base path.
    version: positive integer version directory.
    overwrite: replace an existing version instead of failing.
    extra_files: {name: text} written to `<version>/assets.extra/`.
  Returns:
    The version directory.
  """
  check_free(export_dir, version, overwrite)
  tmp = staging_dir(export_dir, version)
  try:
    save_into(module, tmp, extra_files)
    return publish(tmp, export_dir, version, overwrite=overwrite)
  finally:
    if os.path.exists(tmp):
      shutil.rmtree(tmp, ignore_errors=True)
