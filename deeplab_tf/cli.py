"""What every command line of the project shares: a quiet start and plain logs.

Each CLI (`train.py`, `eval.py`, `export.py`, `convert_tf1_checkpoint.py`,
`python -m deeplab_tf.complexity`, `python -m datasets.*`) imports this
module *before* anything that imports TensorFlow and calls `run(main)`
instead of `absl.app.run(main)`; `call(main, argv)` is the same without the
exit, for running a CLI in-process (tests/cli_helpers.py):

  * TensorFlow's C++ start-up lines (oneDNN, CPU-feature guard) are hidden:
    `TF_CPP_MIN_LOG_LEVEL` defaults to 2 (errors only) unless the user set it
    or passed `--verbosity` >= 1 (`-v 1`), which shows everything;
  * Python log lines of TensorFlow, Keras and absl themselves (deprecation
    notices, "Sharding callback duration", converter chatter) are shown only
    at `--verbosity` >= 1; errors always are;
  * our own lines are plain `HH:MM:SS message` (`WARNING: ` / `ERROR: ` in
    front when they are), with no absl prefix and no terminal codes;
  * `--help` / `--helpfull` print the usage and exit 0 (absl exits 1);
  * one error convention: a bad flag, path or input prints ONE line,
    `<prog>: error: <what is wrong and what to do>`, to stderr, with no
    traceback, and exits with status
      2  a usage error: a flag that does not parse or is not allowed
         (absl's flag errors, `app.UsageError`) or a flag value the
         configuration rejects (`deeplab_tf.errors.ConfigError`);
      1  any other user error: a bad file, dataset or checkpoint
         (`deeplab_tf.errors.UserError`, `DataError`), an OSError naming a
         file or worded by us, a locked logdir, a diverged training run;
    an unexpected (internal) error keeps its traceback.

The flags themselves are defined once for every CLI in `cli_flags.py`.
This module imports no TensorFlow, so `--help` answers at once.
"""

import logging
import os
import sys
from typing import Callable, Optional, Sequence

QUIET_LOGGERS = ("tensorflow", "absl", "keras", "h5py", "jax")
HELP_ARGS = ("--help", "-help", "-h", "-?", "--helpshort", "--helpfull",
             "--helpxml")


def verbosity_from_argv(argv: Sequence[str]) -> int:
  """The value of absl's `--verbosity` / `-v` in `argv` (0 if absent)."""
  value = None
  for i, arg in enumerate(argv[1:], start=1):
    for name in ("--verbosity", "-verbosity", "--v", "-v"):
      if arg.startswith(name + "="):
        value = arg[len(name) + 1:]
      elif arg == name and i + 1 < len(argv):
        value = argv[i + 1]
  try:
    return int(value) if value is not None else 0
  except ValueError:
    return 0  # absl reports the bad value itself


def quiet_tensorflow(argv: Optional[Sequence[str]] = None):
  """Sets TensorFlow's C++ log level before TensorFlow is imported.

  A value the user exported is kept; `--verbosity >= 1` shows everything.
  """
  argv = sys.argv if argv is None else argv
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL",
                        "0" if verbosity_from_argv(argv) >= 1 else "2")


class PlainFormatter(logging.Formatter):
  """`HH:MM:SS message`, with the level in front of warnings and errors."""

  def __init__(self):
    super().__init__("%(asctime)s %(message)s", datefmt="%H:%M:%S")

  def format(self, record):
    text = super().format(record)
    if record.levelno >= logging.WARNING:
      head, _, rest = text.partition(" ")
      text = "%s %s: %s" % (head, record.levelname, rest)
    return text


class LibraryFilter(logging.Filter):
  """Drops library records (QUIET_LOGGERS) below ERROR. A handler filter,
  because absl resets its logger's level whenever its verbosity flag is
  set again (TensorFlow's SavedModel writer logs through it)."""

  def filter(self, record):
    if record.levelno >= logging.ERROR:
      return True
    return record.name.split(".")[0] not in QUIET_LOGGERS


def setup_logging(verbosity: int = 0, stream=None):
  """Our lines at INFO, plain; library loggers only at `verbosity >= 1`."""
  root = logging.getLogger()
  handler = logging.StreamHandler(stream or sys.stderr)
  handler.setFormatter(PlainFormatter())
  if verbosity < 1:
    handler.addFilter(LibraryFilter())
  root.handlers = [handler]
  root.setLevel(logging.DEBUG if verbosity >= 2 else logging.INFO)
  for name in QUIET_LOGGERS:
    logging.getLogger(name).setLevel(
        logging.NOTSET if verbosity >= 1 else logging.ERROR)
  import warnings  # pylint: disable=g-import-not-at-top
  if verbosity < 1:
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)


USAGE_ERROR = 2
USER_ERROR = 1


def program_name(argv0: str) -> str:
  """`train.py`, or `python -m datasets.validate` for a module run with -m."""
  main = sys.modules.get("__main__")
  spec = getattr(main, "__spec__", None)
  if spec is not None and spec.name and os.path.abspath(
      getattr(main, "__file__", "") or "") == os.path.abspath(argv0):
    name = spec.name
    return "python -m " + (name[:-len(".__main__")]
                           if name.endswith(".__main__") else name)
  return os.path.basename(argv0)


def user_error(error: BaseException):
  """(one-line message, exit status) of an error the user can fix, or None
  for an internal error (which keeps its traceback)."""
  # pylint: disable=g-import-not-at-top
  from absl import app
  from absl import flags
  from deeplab_tf.errors import UserError
  if isinstance(error, (flags.Error, app.UsageError)):
    return str(error), USAGE_ERROR
  if isinstance(error, UserError):
    return str(error), error.exit_code
  if isinstance(error, OSError):
    if error.filename is not None and error.strerror:
      return "%s: %s (check the path and its permissions)" % (
          error.filename, error.strerror), USER_ERROR
    if error.errno is None and error.args:  # a message worded by deeplab_tf
      return str(error), USER_ERROR
  return None


class _Logging:
  """setup_logging() for one call, the previous set-up restored after it
  (so in-process calls, e.g. from tests, leave logging as they found it)."""

  def __init__(self, verbosity: int):
    self.verbosity = verbosity

  def __enter__(self):
    root = logging.getLogger()
    self.saved = (list(root.handlers), root.level,
                  {n: logging.getLogger(n).level for n in QUIET_LOGGERS})
    setup_logging(self.verbosity)

  def __exit__(self, *unused):
    root = logging.getLogger()
    root.handlers, level, levels = self.saved
    root.setLevel(level)
    for name, value in levels.items():
      logging.getLogger(name).setLevel(value)


def call(main: Callable, argv: Sequence[str],
         prog: Optional[str] = None) -> int:
  """Parses `argv` (program name first) into absl's FLAGS and runs `main`.

  Returns main's exit status (0 for None). A user error (see the module
  docstring) prints `<prog>: error: <message>` on one line of stderr and
  raises SystemExit with its status; other errors propagate unchanged.
  Flags parsed by an earlier call are reset first, so a process (a test)
  may call several CLIs' mains one after another.
  """
  # pylint: disable=g-import-not-at-top
  from absl import flags
  import absl.logging  # noqa: F401  (defines --verbosity)
  argv = list(argv)
  prog = prog or program_name(argv[0])
  if flags.FLAGS.is_parsed():
    flags.FLAGS.unparse_flags()
  try:
    args = flags.FLAGS(argv)
    if flags.FLAGS["verbosity"].using_default_value:
      flags.FLAGS.verbosity = 0
    with _Logging(flags.FLAGS.verbosity):
      status = main(args)
  except Exception as e:  # pylint: disable=broad-except
    found = user_error(e)
    if found is None:
      raise  # a bug: its traceback is the report
    message, status = found
    print("%s: error: %s" % (prog, message), file=sys.stderr)
    raise SystemExit(status) from None
  return 0 if status is None else status


def run(main: Callable, argv: Optional[Sequence[str]] = None,
        prog: Optional[str] = None):
  """The `__main__` of every CLI: quiet TensorFlow, `--help` exits 0, then
  `call(main)` and exit with its status."""
  from absl import app  # pylint: disable=g-import-not-at-top
  argv = list(sys.argv if argv is None else argv)
  quiet_tensorflow(argv)
  if any(arg in HELP_ARGS for arg in argv[1:]):
    app.usage(shorthelp="--helpfull" not in argv, writeto_stdout=True,
              exitcode=0)
  sys.exit(call(main, argv, prog))
