"""Naming the shard behind a record-read error.

`tf.data` reports a truncated or corrupt TFRecord as a DataLossError that
does not say which file; when one happens, every shard of the split is read
again on its own to find (and name) the bad ones.
"""

from typing import List, Sequence, Tuple

import tensorflow as tf

from deeplab_tf.data.errors import DataError


def bad_shards(files: Sequence[str]) -> List[Tuple[str, str]]:
  """(file, reason) for each shard whose records do not all read (length
  and data CRCs are checked by the reader)."""
  bad = []
  for path in files:
    index = -1
    try:
      for index, _ in enumerate(tf.data.TFRecordDataset(path)):
        pass
    except (tf.errors.DataLossError, tf.errors.OutOfRangeError,
            tf.errors.NotFoundError) as e:
      bad.append((path, "truncated or corrupt after %d good record(s) (%s)"
                  % (index + 1, e.message.strip().splitlines()[0])))
  return bad


def record_read_error(dataset_dir: str, split: str,
                      error: Exception) -> DataError:
  """A DataError naming the bad shard(s) of a failed read of `split`."""
  from deeplab_tf.data.input_pipeline import list_split_files
  try:
    found = bad_shards(list_split_files(dataset_dir, split))
  except DataError as e:  # the split itself vanished
    return e
  if not found:
    return DataError("reading split %r of %s failed (%s); every shard reads "
                     "on its own, so a file changed during the run"
                     % (split, dataset_dir,
                        getattr(error, "message", error)))
  return DataError(
      "split %r of %s: %s; rebuild the split (python -m datasets.build_...) "
      "or restore the file(s)"
      % (split, dataset_dir,
         "; ".join("shard %s is %s" % item for item in found)))
