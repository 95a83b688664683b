"""get_dataset_descriptor: a built-in name or a label-map file."""

import os

from deeplab_tf.data.builtin import BUILTIN_DESCRIPTORS
from deeplab_tf.data.descriptor import DatasetDescriptor
from deeplab_tf.data.errors import DataError
from deeplab_tf.data.label_map import load_label_map

# File a builder writes beside its records so the directory describes itself.
LABEL_MAP_FILENAME = "label_map.json"


def get_dataset_descriptor(name_or_label_map_path: str) -> DatasetDescriptor:
  """Returns the descriptor for a built-in name or a label-map file.

  Args:
    name_or_label_map_path: one of `BUILTIN_DESCRIPTORS` ('pascal_voc_seg',
      'cityscapes', 'ade20k', 'camvid', 'synthetic'), a label-map file (see
      `label_map.py`), or a dataset directory holding `label_map.json`.
  Raises:
    DataError: unknown name, missing file, or an inconsistent label map.
  """
  key = name_or_label_map_path
  if key in BUILTIN_DESCRIPTORS:
    return BUILTIN_DESCRIPTORS[key]
  if os.path.isdir(key):
    candidate = os.path.join(key, LABEL_MAP_FILENAME)
    if os.path.isfile(candidate):
      return load_label_map(candidate)
    raise DataError("%s is a directory without %s" % (key, LABEL_MAP_FILENAME))
  if os.path.isfile(key):
    return load_label_map(key)
  raise DataError("unknown dataset %r: not a built-in (%s) and no such "
                  "label-map file" % (key, ", ".join(sorted(BUILTIN_DESCRIPTORS))))
