"""Shared test fixtures: paths to ../shared and quiet TensorFlow."""

import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
REFERENCE = SHARED / "reference"
DATA = SHARED / "data"


def require(path: pathlib.Path) -> pathlib.Path:
  """Skips the test when a ../shared fixture is not beside the checkout."""
  if not path.exists():
    pytest.skip("fixture %s not found (../shared is not beside this "
                "checkout)" % path)
  return path


@pytest.fixture
def reference_dir():
  return require(REFERENCE)


@pytest.fixture
def data_dir():
  return require(DATA)
