"""Sharded, parallel, atomic TFRecord writing.

Worker processes read, check and encode examples (PIL/numpy only); the parent
writes them in order, shard after shard, into temporary files that are
renamed to `{split}-NNNNN-of-NNNNN.tfrecord` only once every example of the
split has been encoded without error. An interrupted or failed build
therefore never leaves a truncated shard under a final name, and a rebuild
replaces the previous shards of the split as a whole. `stage_split` stops
before the renames so that several splits are published together.
"""

import dataclasses
import functools
import glob
import math
import multiprocessing
import os
import sys
import time
import traceback
from typing import Callable, List, Optional, Sequence

import numpy as np
import tensorflow as tf

from deeplab_tf.data import tfrecord_schema as schema
from deeplab_tf.data.errors import DataError

_MAX_ERRORS_SHOWN = 20


class _PlainProgress:
  """`  n/total examples` lines at most every `interval` seconds: what a
  log file gets instead of Keras' bar (carriage returns, ANSI colours)."""

  def __init__(self, total: int, interval: float = 10.0, stream=None):
    self.total, self.interval = total, interval
    self.stream = stream or sys.stdout
    self._last = time.time()

  def update(self, done: int):
    now = time.time()
    if done == self.total or now - self._last >= self.interval:
      self._last = now
      print("  %d/%d examples" % (done, self.total), file=self.stream,
            flush=True)


def _progress(total: int):
  """Keras' progress bar on a terminal, plain lines otherwise."""
  if sys.stdout.isatty():
    import keras  # pylint: disable=g-import-not-at-top
    return keras.utils.Progbar(total, interval=1.0, unit_name="example")
  return _PlainProgress(total)


@dataclasses.dataclass(frozen=True)
class ExampleSource:
  """Where one example comes from; `filename` is what the record stores."""
  image_path: str
  label_path: str
  filename: str


@dataclasses.dataclass
class SplitResult:
  split: str
  num_examples: int
  files: List[str]
  histogram: np.ndarray  # pixels per label value 0..255


def _safe_encode(encode_fn, source):
  """Runs in a worker: (result, None) or (None, error message)."""
  try:
    return encode_fn(source), None
  except DataError as e:
    return None, str(e)
  except Exception as e:  # pylint: disable=broad-except
    return None, "%r: unexpected %s: %s\n%s" % (
        source, type(e).__name__, e, traceback.format_exc(limit=3))


def _results(encode_fn, sources, num_workers):
  task = functools.partial(_safe_encode, encode_fn)
  if num_workers <= 1 or len(sources) <= 1:
    for source in sources:
      yield task(source)
    return
  # fork: workers need no TensorFlow state (they only use PIL and numpy).
  methods = multiprocessing.get_all_start_methods()
  context = multiprocessing.get_context("fork" if "fork" in methods else None)
  with context.Pool(min(num_workers, len(sources))) as pool:
    yield from pool.imap(task, sources, chunksize=4)


def _remove_temporaries(output_dir: str, split: str):
  for path in glob.glob(os.path.join(glob.escape(output_dir),
                                     glob.escape(split) + "-*.tfrecord.tmp*")):
    os.remove(path)


@dataclasses.dataclass
class StagedSplit:
  """A split encoded into temporary files, not yet under its final names."""
  output_dir: str
  result: SplitResult
  temps: List[str]

  def publish(self):
    """Renames the temporary shards to their final names and removes the
    split's previous shards that are not among them."""
    for temp, final in zip(self.temps, self.result.files):
      os.replace(temp, final)
    for stale in schema.split_files(self.output_dir, self.result.split):
      if stale not in self.result.files:
        os.remove(stale)

  def discard(self):
    for temp in self.temps:
      if os.path.exists(temp):
        os.remove(temp)


def write_split(output_dir: str, split: str, sources: Sequence,
                encode_fn: Callable, *, num_shards: int = 4,
                num_workers: Optional[int] = None,
                verbose: bool = True) -> SplitResult:
  """Encodes `sources` with `encode_fn` and writes the split's shards.

  Args:
    output_dir: directory for the shards (created if missing).
    split: split name.
    sources: examples (e.g. ExampleSource), in the order they are written.
    encode_fn: picklable `source -> image_io.EncodedPair` that raises
      DataError naming the file for bad inputs.
    num_shards: shard count (capped at the number of examples).
    num_workers: encoding processes (default: CPU count).
    verbose: show a progress bar.
  Returns:
    SplitResult with the written files and the label histogram.
  Raises:
    DataError: empty split, or every bad example (all are listed); nothing
      is written under a final name then.
  """
  staged = stage_split(output_dir, split, sources, encode_fn,
                       num_shards=num_shards, num_workers=num_workers,
                       verbose=verbose)
  try:
    staged.publish()
  finally:
    staged.discard()
  return staged.result


def _plan_shards(output_dir: str, split: str, num_examples: int,
                 num_shards: int):
  """(examples per shard, final shard paths, temporary shard paths)."""
  num_shards = max(1, min(num_shards, num_examples))
  per_shard = int(math.ceil(num_examples / num_shards))
  num_shards = int(math.ceil(num_examples / per_shard))  # none left empty
  finals = [schema.shard_filename(output_dir, split, i, num_shards)
            for i in range(num_shards)]
  temps = ["%s.tmp-%d" % (f, os.getpid()) for f in finals]
  return per_shard, finals, temps


def _write_shards(results, temps: List[str], per_shard: int, progress):
  """Writes encoded examples into `temps` in order until the first error,
  then only collects errors; returns (errors, label histogram)."""
  errors, histogram = [], np.zeros(256, np.int64)
  writer, shard = None, -1
  try:
    for index, (pair, error) in enumerate(results):
      if progress is not None:
        progress.update(index + 1)
      if error is not None:
        errors.append(error)
      if errors:
        continue  # keep checking the rest, write nothing more
      if index // per_shard != shard:
        if writer is not None:
          writer.close()
        shard = index // per_shard
        writer = tf.io.TFRecordWriter(temps[shard])
      histogram += pair.histogram
      writer.write(schema.make_example(
          pair.image_bytes, pair.image_format, pair.filename, pair.height,
          pair.width, pair.label_png).SerializeToString())
  finally:
    if writer is not None:
      writer.close()
  return errors, histogram


def _raise_bad_examples(split: str, errors: List[str]):
  """Raises one DataError listing the first bad examples, if any."""
  if errors:
    shown = "\n  ".join(errors[:_MAX_ERRORS_SHOWN])
    more = len(errors) - _MAX_ERRORS_SHOWN
    raise DataError("split %r: %d bad example(s), nothing written:\n  %s%s"
                    % (split, len(errors), shown,
                       "\n  ... and %d more" % more if more > 0 else ""))


def stage_split(output_dir: str, split: str, sources: Sequence,
                encode_fn: Callable, *, num_shards: int = 4,
                num_workers: Optional[int] = None,
                verbose: bool = True) -> StagedSplit:
  """Like `write_split`, but leaves the shards in temporary files; the
  caller publishes (or discards) them, so several splits can be published
  together once all of them are good."""
  if not sources:
    raise DataError("split %r has no examples; nothing written" % split)
  os.makedirs(output_dir, exist_ok=True)
  _remove_temporaries(output_dir, split)
  per_shard, finals, temps = _plan_shards(output_dir, split, len(sources),
                                          num_shards)
  num_workers = num_workers or os.cpu_count() or 1
  progress = None
  if verbose:
    print("Building split %s: %d examples, %d shards"
          % (split, len(sources), len(finals)), flush=True)
    progress = _progress(len(sources))
  done = False
  try:
    errors, histogram = _write_shards(
        _results(encode_fn, list(sources), num_workers), temps, per_shard,
        progress)
    _raise_bad_examples(split, errors)
    done = True
  finally:
    if not done:
      _remove_temporaries(output_dir, split)
  return StagedSplit(output_dir, SplitResult(split, len(sources), finals,
                                             histogram), temps)
