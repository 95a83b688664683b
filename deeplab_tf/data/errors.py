"""The one exception type every dataset problem is reported with."""


class DataError(ValueError):
  """A dataset input is unusable; the message names the offending file.

  A subclass of ValueError so callers that already catch bad-argument errors
  keep working; command-line builders print the message and exit non-zero.
  """
