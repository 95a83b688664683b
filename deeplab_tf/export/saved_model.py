"""Writing the SavedModel in the TF Serving layout, atomically.

TF Serving watches a base directory and serves its highest numeric
subdirectory, `<export_dir>/<version>/`. The model is saved into a hidden
temporary directory beside it (a name TF Serving ignores) and renamed into
place, so a server never sees a half-written version.
"""

import os
import re
import shutil
import tempfile
from typing import Optional

import tensorflow as tf

from deeplab_tf.run_config import atomic_write_bytes  # noqa: F401  (re-exported for export.lib)

ASSETS_EXTRA = "assets.extra"
_STEP = re.compile(r"-(\d+)$")


def checkpoint_step(prefix: str) -> Optional[int]:
  """The step of a `ckpt-<step>` prefix, or None."""
  match = _STEP.search(os.path.basename(prefix))
  return int(match.group(1)) if match else None


def default_version(prefix: str) -> int:
  """The checkpoint step (so newer checkpoints get higher versions), >= 1."""
  step = checkpoint_step(prefix)
  return max(step, 1) if step is not None else 1


def write_saved_model(module, export_dir: str, version: int, *,
                      overwrite: bool = False,
                      extra_files: Optional[dict] = None) -> str:
  """Saves `module` (a DeepLabServingModule) as `<export_dir>/<version>`.

  Args:
    module: has `signatures()` returning {name: concrete function}.
    export_dir: the TF Serving base path.
    version: positive integer version directory.
    overwrite: replace an existing version instead of failing.
    extra_files: {name: text} written to `<version>/assets.extra/` (files TF
      Serving ignores, e.g. the run configuration).
  Returns:
    The version directory.
  """
  if int(version) < 1:
    raise ValueError("version must be a positive integer, got %r" % version)
  final = os.path.join(export_dir, str(int(version)))
  if os.path.exists(final) and not overwrite:
    raise FileExistsError("%s already exists (pass --overwrite, or another "
                          "--version)" % final)
  os.makedirs(export_dir, exist_ok=True)
  tmp = tempfile.mkdtemp(dir=export_dir, prefix=".tmp-%d-" % int(version))
  try:
    tf.saved_model.save(module, tmp, signatures=module.signatures())
    if extra_files:
      os.makedirs(os.path.join(tmp, ASSETS_EXTRA), exist_ok=True)
      for name, text in extra_files.items():
        with open(os.path.join(tmp, ASSETS_EXTRA, name), "w") as f:
          f.write(text)
    if os.path.exists(final):
      old = tempfile.mkdtemp(dir=export_dir, prefix=".old-%d-" % int(version))
      os.replace(final, os.path.join(old, "model"))
      os.replace(tmp, final)
      shutil.rmtree(old, ignore_errors=True)
    else:
      os.replace(tmp, final)
  finally:
    if os.path.exists(tmp):
      shutil.rmtree(tmp, ignore_errors=True)
  return final
