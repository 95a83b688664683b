"""The errors a command line reports as one line, without a traceback.

Library code raises these for a bad argument, flag value, path or input:
things the user can fix. `deeplab_tf.cli.run` prints `<prog>: error: <message>`
to stderr and exits with the class's `exit_code`. Any other exception is a
bug in deeplab_tf and keeps its traceback.

Both are ValueErrors, so callers that catch bad-argument errors keep working.
"""


class UserError(ValueError):
  """A bad input the user can fix: the message names the flag, file or
  record and what to do. Command lines exit with status 1."""
  exit_code = 1


class ConfigError(UserError):
  """A flag or configuration value that is invalid on its own, contradicts
  another one, or contradicts what a checkpoint records: a usage error,
  exit status 2."""
  exit_code = 2
