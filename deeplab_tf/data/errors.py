"""The one exception type every dataset problem is reported with."""

from deeplab_tf.errors import UserError


class DataError(UserError):
  """A dataset input is unusable; the message names the offending file.

  A UserError (so a ValueError: callers that already catch bad-argument
  errors keep working); command lines print the message on one line and
  exit with status 1 (deeplab_tf.cli.run).
  """
