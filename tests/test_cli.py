"""What a user sees from the command lines: `--help` exits 0 without loading
TensorFlow, and a run redirected to a file holds our plain lines only (no
TensorFlow start-up lines, deprecation notices, absl prefixes or terminal
codes)."""

import os
import re
import subprocess
import sys

import pytest

from deeplab_tf import cli
from tests.helpers import REPO

NOISE = ("cpu_feature_guard", "oneDNN", "absl::InitializeLog", "deprecated",
         "Sharding callback", "Instructions for updating", "\x1b", "\r")


def _env():
  """The user's environment: no TF_CPP_MIN_LOG_LEVEL of the test session."""
  env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
  env["PYTHONPATH"] = str(REPO)
  return env


@pytest.mark.parametrize("command", [["export.py"], ["train.py"],
                                     ["eval.py"], ["convert_tf1_checkpoint.py"],
                                     ["-m", "deeplab_tf.complexity"],
                                     ["-m", "datasets.build_folder_data"]])
def test_help_exits_zero_without_importing_tensorflow(command):
  out = subprocess.run([sys.executable, "-X", "importtime"] + command +
                       ["--help"], cwd=REPO, env=_env(), capture_output=True,
                       text=True, timeout=60)
  assert out.returncode == 0, out.stderr[-2000:]
  assert re.search(r"^\s+--\w+: ", out.stdout, re.M), out.stdout  # flags
  imported = [line.rsplit("|", 1)[-1].strip()
              for line in out.stderr.splitlines() if "|" in line]
  assert imported and not [m for m in imported
                           if m.split(".")[0] in ("tensorflow", "keras")]


def test_verbosity_and_user_log_level_are_respected(monkeypatch):
  assert cli.verbosity_from_argv(["x", "--verbosity=1"]) == 1
  assert cli.verbosity_from_argv(["x", "-v", "2"]) == 2
  assert cli.verbosity_from_argv(["x", "--dataset=v"]) == 0
  monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
  cli.quiet_tensorflow(["x"])
  assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "2"
  monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL")
  cli.quiet_tensorflow(["x", "--verbosity=1"])
  assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0"
  monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "1")  # the user's choice wins
  cli.quiet_tensorflow(["x"])
  assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "1"


def test_redirected_train_log_is_our_plain_lines_only(tmp_path):
  from deeplab_tf.data.synthetic import write_synthetic_dataset
  data = tmp_path / "data"
  write_synthetic_dataset(str(data), num_train=4, num_val=2,
                          image_size=(64, 64), verbose=False)
  log = tmp_path / "train.log"
  with open(log, "w") as f:  # a file: not a terminal
    rc = subprocess.run(
        [sys.executable, "train.py", "--dataset=synthetic",
         "--dataset_dir=%s" % data, "--train_logdir=%s" % (tmp_path / "run"),
         "--model_variant=mobilenet_v2", "--depth_multiplier=0.25",
         "--train_crop_size=65,65", "--train_batch_size=2",
         "--training_number_of_steps=2", "--log_steps=1", "--seed=3"],
        cwd=REPO, env=_env(), stdout=f, stderr=subprocess.STDOUT,
        timeout=300).returncode
  text = log.read_text()
  assert rc == 0, text[-3000:]
  assert not [n for n in NOISE if n in text], text
  lines = text.splitlines()
  assert lines and all(re.match(r"\d\d:\d\d:\d\d \S", l) for l in lines), text
  assert re.search(r"step 2/2 .* done: step 2, loss \d", " ".join(lines))


def test_library_lines_stay_out_even_after_absl_resets_its_level():
  # pylint: disable=g-import-not-at-top
  import io
  import logging
  from absl import logging as absl_logging
  root = logging.getLogger()
  saved = (list(root.handlers), root.level, absl_logging.get_verbosity(),
           {n: logging.getLogger(n).level for n in cli.QUIET_LOGGERS})
  stream = io.StringIO()
  try:
    cli.setup_logging(0, stream)
    absl_logging.set_verbosity("info")  # what TF's SavedModel path triggers
    absl_logging.info("Sharding callback duration: 5 microseconds")
    logging.getLogger("tensorflow").warning("resize_bilinear is deprecated")
    logging.info("step 1/2 ours")
    logging.getLogger("tensorflow").error("a real TF error")
  finally:
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    absl_logging.set_verbosity(saved[2])
    for name, level in saved[3].items():
      logging.getLogger(name).setLevel(level)
  lines = stream.getvalue().splitlines()
  assert len(lines) == 2, lines
  assert re.fullmatch(r"\d\d:\d\d:\d\d step 1/2 ours", lines[0])
  assert re.fullmatch(r"\d\d:\d\d:\d\d ERROR: a real TF error", lines[1])
