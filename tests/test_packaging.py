"""`pip install -e .` exposes only `deeplab_tf`: the repository's `datasets/`
builders folder must never shadow the PyPI package `datasets`.

pip takes the PEP 660 route because pyproject.toml names a build backend
(without it, a pip that finds `wheel` falls back to `setup.py develop`, which
puts the whole checkout on sys.path). The test calls that backend's
`build_editable` hook exactly as pip does, installs the resulting wheel's
files into an empty site directory and imports from a fresh interpreter that
sees nothing else (`-I -S`), outside the checkout.
"""

import json
import re
import subprocess
import sys
import zipfile

import pytest

from tests.helpers import REPO

PROBE = r"""
import importlib.util, json, site, sys
site.addsitedir(sys.argv[1])
import deeplab_tf
print(json.dumps({"deeplab_tf": deeplab_tf.__file__, "others": {
    name: importlib.util.find_spec(name) is not None
    for name in ("datasets", "tests", "train", "bench")}}))
"""


def test_pyproject_names_the_pep660_backend():
  text = (REPO / "pyproject.toml").read_text()
  assert re.search(r'^build-backend\s*=\s*"setuptools.build_meta"', text, re.M)
  assert re.search(r'^requires\s*=\s*\["setuptools>=64"', text, re.M)


def test_editable_install_exposes_only_deeplab_tf(tmp_path):
  setuptools = pytest.importorskip("setuptools")
  if int(setuptools.__version__.split(".")[0]) < 64:
    pytest.skip("setuptools %s has no PEP 660 editable builds (pip's build "
                "environment gets >=64 from pyproject.toml)"
                % setuptools.__version__)
  wheel_dir = tmp_path / "wheel"
  wheel_dir.mkdir()
  built = subprocess.run(
      [sys.executable, "-c", "import sys; from setuptools import build_meta;"
       " print(build_meta.build_editable(sys.argv[1]))", str(wheel_dir)],
      cwd=REPO, capture_output=True, text=True, timeout=120)
  assert built.returncode == 0, built.stderr[-2000:]
  wheel = wheel_dir / built.stdout.strip().splitlines()[-1]
  site_dir = tmp_path / "site"
  with zipfile.ZipFile(wheel) as z:
    z.extractall(site_dir)
  for pth in site_dir.glob("*.pth"):  # no checkout directory on sys.path
    assert str(REPO) not in pth.read_text(), pth.read_text()
  probe = subprocess.run([sys.executable, "-I", "-S", "-c", PROBE,
                          str(site_dir)], cwd=tmp_path, capture_output=True,
                         text=True, timeout=60)
  assert probe.returncode == 0, probe.stderr[-2000:]
  found = json.loads(probe.stdout)
  assert found["deeplab_tf"] == str(REPO / "deeplab_tf" / "__init__.py")
  assert found["others"] == {"datasets": False, "tests": False,
                             "train": False, "bench": False}
