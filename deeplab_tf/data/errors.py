"""The one exception type every dataset problem is reported with."""


class DataError(ValueError):
  """A dataset input is unusable; the message names the offending file.

  A subclass of ValueError so callers that already catch bad-argument errors
  keep working; command-line builders print the message and exit non-zero.
  """


def run_or_exit(fn, *args, **kwargs):
  """Runs `fn`; on DataError prints the message and exits with status 1.

  For command-line `main`s: users get one clear line naming the file, not a
  traceback.
  """
  import sys  # pylint: disable=g-import-not-at-top
  try:
    return fn(*args, **kwargs)
  except DataError as e:
    print("ERROR: %s" % e, file=sys.stderr)
    sys.exit(1)
