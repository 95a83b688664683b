"""What every command line of the project shares: a quiet start and plain logs.

Each CLI (`train.py`, `eval.py`, `export.py`, `convert_tf1_checkpoint.py`,
`python -m datasets.*`) imports this module *before* anything that imports
TensorFlow and calls `run(main)` instead of `absl.app.run(main)`:

  * TensorFlow's C++ start-up lines (oneDNN, CPU-feature guard) are hidden:
    `TF_CPP_MIN_LOG_LEVEL` defaults to 2 (errors only) unless the user set it
    or passed `--verbosity` >= 1 (`-v 1`), which shows everything;
  * Python log lines of TensorFlow, Keras and absl themselves (deprecation
    notices, "Sharding callback duration", converter chatter) are shown only
    at `--verbosity` >= 1; errors always are;
  * our own lines are plain `HH:MM:SS message` (`WARNING: ` / `ERROR: ` in
    front when they are), with no absl prefix and no terminal codes;
  * `--help` / `--helpfull` print the usage and exit 0 (absl exits 1).

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


def run(main: Callable, argv: Optional[Sequence[str]] = None):
  """`absl.app.run(main)` with the set-up above; `--help` exits 0."""
  # pylint: disable=g-import-not-at-top
  from absl import app
  from absl import flags
  argv = list(sys.argv if argv is None else argv)
  quiet_tensorflow(argv)
  if any(arg in HELP_ARGS for arg in argv[1:]):
    app.usage(shorthelp="--helpfull" not in argv, writeto_stdout=True,
              exitcode=0)

  def setup_then_main(args):
    setup_logging(flags.FLAGS["verbosity"].value
                  if flags.FLAGS["verbosity"].present else 0)
    return main(args)

  app.run(setup_then_main, argv=argv)


def define_tfds_flags(data_dir_help: str = "TFDS data directory (default: "
                      "TFDS's, $TFDS_DATA_DIR or ~/tensorflow_datasets)."):
  """The flags of `--dataset=tfds:<name>[/<config>][:<version>]`, one
  definition for every CLI that reads a dataset (`tfds_source.FLAG_NAMES`)."""
  from absl import flags  # pylint: disable=g-import-not-at-top
  flags.DEFINE_string("tfds_data_dir", None, data_dir_help)
  flags.DEFINE_boolean("tfds_download", False, "Download and prepare the "
                       "TFDS dataset if it is not prepared.")
  flags.DEFINE_string("tfds_image_key", None, "TFDS image feature (default: "
                      "the adapter's, else 'image').")
  flags.DEFINE_string("tfds_label_key", None, "TFDS mask feature (default: "
                      "the adapter's, else 'segmentation_mask').")
  flags.DEFINE_string("label_map", None, "Classes of a TFDS dataset: "
                      "built-in dataset name or label-map file.")
