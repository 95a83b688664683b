"""Runs a command line's main in this process, as `python <cli>` would.

`run_cli("eval.py", "--checkpoint_dir=x")` parses the flags into absl's
FLAGS and calls the CLI's main through `deeplab_tf.cli.call`, the function
every CLI's `__main__` runs: same flags, same one-line errors and exit
statuses, without the seconds a subprocess spends importing TensorFlow. The
CLIs share their flag definitions (deeplab_tf/cli_flags.py), so all of them
load into one process. Subprocesses stay for what needs a process of its own
(--help speed and imports, kill -9, private mounts).
"""

import contextlib
import dataclasses
import importlib
import importlib.util
import io
import pathlib
import sys
from typing import List

from deeplab_tf import cli

REPO = pathlib.Path(__file__).resolve().parents[1]

SCRIPTS = ("train.py", "eval.py", "export.py", "convert_tf1_checkpoint.py")
MODULES = {"python -m deeplab_tf.complexity": ("deeplab_tf.complexity.cli",
                                               "report"),
           "python -m datasets.validate": ("datasets.validate", "main")}


def load_script(name: str):
  """The module of a top-level CLI script (loaded once per process)."""
  key = "cli_script_" + name[:-len(".py")]
  if key not in sys.modules:
    spec = importlib.util.spec_from_file_location(key, REPO / name)
    module = importlib.util.module_from_spec(spec)
    sys.modules[key] = module
    spec.loader.exec_module(module)
  return sys.modules[key]


def cli_main(prog: str):
  """The absl main of `prog` ('train.py', 'python -m datasets.validate')."""
  if prog in SCRIPTS:
    return load_script(prog).main
  module, name = MODULES[prog]
  return getattr(importlib.import_module(module), name)


@dataclasses.dataclass
class Result:
  returncode: int
  stdout: str
  stderr: str

  @property
  def error_lines(self) -> List[str]:
    return [l for l in self.stderr.splitlines() if ": error: " in l]


def run_cli(prog: str, *args: str) -> Result:
  """`prog args` in this process: its exit status, stdout and stderr."""
  main = cli_main(prog)
  out, err = io.StringIO(), io.StringIO()
  with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    try:
      status = cli.call(main, [prog] + list(args), prog=prog)
    except SystemExit as e:
      status = e.code
  return Result(status, out.getvalue(), err.getvalue())


def assert_one_error(result: Result, prog: str, status: int, *phrases: str):
  """One `<prog>: error: ...` line holding every phrase, as the last line of
  stderr, and exit `status`."""
  assert result.returncode == status, (result.returncode, result.stderr)
  assert "Traceback" not in result.stderr
  assert len(result.error_lines) == 1, result.stderr
  line = result.error_lines[0]
  assert line.startswith(prog + ": error: "), line
  assert result.stderr.strip().splitlines()[-1] == line
  for phrase in phrases:
    assert phrase in line, (phrase, line)
  return line
