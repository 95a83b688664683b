"""Encoding image/label pairs and writing the splits: what every dataset
builder (`builders.py`) does once it has found its pairs."""

import dataclasses
import os
from typing import Callable, Dict, Optional, Sequence, Tuple

import numpy as np

from deeplab_tf.data import image_io
from deeplab_tf.data.descriptor import DatasetDescriptor
from deeplab_tf.data.errors import DataError
from deeplab_tf.data.label_map import load_label_map, write_label_map
from deeplab_tf.data.registry import LABEL_MAP_FILENAME
from deeplab_tf.data.writer import ExampleSource, SplitResult, stage_split


@dataclasses.dataclass(frozen=True)
class Encoder:
  """Picklable `ExampleSource -> EncodedPair`.

  Attributes:
    descriptor: classes and colours the labels are checked against.
    mask_format: see `image_io.read_mask`.
    id_maps: (label-path suffix, uint8 [256] table) pairs; the first whose
      suffix ends the label path converts its ids (Cityscapes labelIds).
  """
  descriptor: DatasetDescriptor
  mask_format: str = "auto"
  id_maps: Tuple[Tuple[str, np.ndarray], ...] = ()

  def __call__(self, source: ExampleSource):
    id_map = next((table for suffix, table in self.id_maps
                   if source.label_path.endswith(suffix)), None)
    return image_io.encode_pair(source.image_path, source.label_path,
                                source.filename, self.descriptor,
                                self.mask_format, id_map)


def build_splits(output_dir: str, descriptor: DatasetDescriptor,
                 splits: Dict[str, Sequence[ExampleSource]],
                 encoder: Optional[Callable] = None, *, num_shards: int = 4,
                 num_workers: Optional[int] = None,
                 verbose: bool = True) -> Dict[str, SplitResult]:
  """Writes every split, then `label_map.json` describing the directory.

  All or nothing: every split is encoded into temporary files first; only
  when all of them are good are they renamed to their final names (and
  `label_map.json` rewritten), so a bad split leaves every previous split
  and the label map as they were. A DataError lists the bad files.
  """
  if not splits:
    raise DataError("no splits to build")
  for split, sources in splits.items():
    if not sources:
      raise DataError("split %r has no examples; nothing written" % split)
  encoder = encoder or Encoder(descriptor)
  staged = []
  try:
    for split, sources in splits.items():
      staged.append(stage_split(output_dir, split, sources, encoder,
                                num_shards=num_shards,
                                num_workers=num_workers, verbose=verbose))
    for item in staged:
      item.publish()
    write_directory_label_map(output_dir, descriptor,
                              {s.result.split: s.result.num_examples
                               for s in staged})
  finally:
    for item in staged:
      item.discard()
  return {s.result.split: s.result for s in staged}


def write_directory_label_map(output_dir: str, descriptor: DatasetDescriptor,
                              sizes: Dict[str, int]) -> str:
  """Writes `output_dir/label_map.json` with the built split sizes merged in
  (the sizes of other splits built there before are kept)."""
  path = os.path.join(output_dir, LABEL_MAP_FILENAME)
  merged = {}
  if os.path.isfile(path):
    try:
      previous = load_label_map(path)
      if previous.class_names == descriptor.class_names:
        merged.update(previous.splits_to_sizes)
    except DataError:
      pass  # an unreadable old file is simply replaced
  merged.update(sizes)
  return write_label_map(
      dataclasses.replace(descriptor, splits_to_sizes=merged), path)
