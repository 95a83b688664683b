"""Our TFRecord datasets out to TensorFlow Datasets.

`export_to_tfds` writes a prepared TFDS dataset with TFDS's own builder and
writer: features `image` (the original JPEG/PNG bytes, not re-encoded),
`segmentation_mask` (the label PNG of class ids) and `file_name`, and the
label map (class names, ignore label, colours) in the dataset's metadata.
`tfds.load(name, data_dir=output_dir)` then reads it anywhere, without our
code, and `--dataset=tfds:<name> --tfds_data_dir=<output_dir>` trains on it.
TFDS writes into a temporary directory and renames it when complete.
"""

import os
import re
import tempfile
from typing import Dict, List, Optional, Sequence

import tensorflow as tf

from deeplab_tf.data import tfds_adapters as adapters
from deeplab_tf.data import tfrecord_schema as schema
from deeplab_tf.data.descriptor import DatasetDescriptor
from deeplab_tf.data.errors import DataError
from deeplab_tf.data.input_pipeline import list_split_files
from deeplab_tf.data.label_map import label_map_dict

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


def _records(files: Sequence[str]):
  """(key, parsed features) of every record of `files`, in order."""
  for path in files:
    base = os.path.basename(path)
    for index, record in enumerate(tf.data.TFRecordDataset(path)):
      parsed = tf.io.parse_single_example(record, schema.FEATURE_SPEC)
      yield "%s:%06d" % (base, index), parsed


def make_builder_class(name: str, descriptor: DatasetDescriptor,
                       split_files: Dict[str, List[str]],
                       version: str = "1.0.0"):
  """A `tfds.core.GeneratorBasedBuilder` (not registered) writing the
  records of `split_files` ({split: shard files}) as dataset `name`."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

  class DeeplabExport(tfds.core.GeneratorBasedBuilder,
                      skip_registration=True):
    """A deeplab_tf TFRecord dataset exported to TFDS."""
    VERSION = tfds.core.Version(version)
    RELEASE_NOTES = {version: "Exported by deeplab_tf datasets.export_tfds."}
    # Keep the records' order (the same examples in the same order as ours).
    disable_shuffling = True

    def _info(self):
      return tfds.core.DatasetInfo(
          builder=self,
          description=("Semantic segmentation dataset %s (%d classes, "
                       "ignore label %d) exported from deeplab_tf TFRecords."
                       % (descriptor.name, descriptor.num_classes,
                          descriptor.ignore_label)),
          features=tfds.features.FeaturesDict({
              "image": tfds.features.Image(shape=(None, None, 3)),
              "segmentation_mask": tfds.features.Image(
                  shape=(None, None, 1), encoding_format="png"),
              "file_name": tfds.features.Text(),
          }),
          supervised_keys=("image", "segmentation_mask"),
          metadata=tfds.core.MetadataDict(
              {adapters.METADATA_LABEL_MAP_KEY: label_map_dict(descriptor)}))

    def _split_generators(self, dl_manager):
      del dl_manager  # nothing is downloaded
      return {split: self._generate_examples(files)
              for split, files in split_files.items()}

    def _generate_examples(self, files):
      for key, parsed in _records(files):
        yield key, {
            "image": parsed[schema.IMAGE_ENCODED].numpy(),
            "segmentation_mask": parsed[schema.LABEL_ENCODED].numpy(),
            "file_name": parsed[schema.IMAGE_FILENAME].numpy().decode("utf-8"),
        }

  DeeplabExport.name = name
  return DeeplabExport


def check_name(name: str):
  """A TFDS dataset name we may write: snake case, not a TFDS builder."""
  if not _NAME_RE.match(name or ""):
    raise DataError("TFDS name %r: use lower-case letters, digits and _ "
                    "(starting with a letter); choose one with --tfds_name"
                    % name)
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  if name in tfds.list_builders(with_community_datasets=False):
    raise DataError("TFDS name %r is a registered TFDS dataset, so "
                    "tfds.load(%r) would not read the export; choose another "
                    "with --tfds_name (e.g. %s_deeplab)" % (name, name, name))


def export_to_tfds(dataset_dir: str, descriptor: DatasetDescriptor,
                   output_dir: str, *, name: Optional[str] = None,
                   splits: Optional[Sequence[str]] = None,
                   version: str = "1.0.0",
                   num_shards: Optional[int] = None) -> str:
  """Writes the splits of `dataset_dir` as a prepared TFDS dataset.

  Args:
    dataset_dir: our TFRecords (`{split}-NNNNN-of-NNNNN.tfrecord`).
    descriptor: the dataset's classes (kept in the TFDS metadata).
    output_dir: TFDS data directory; the dataset goes to
      `<output_dir>/<name>/<version>/`.
    name: TFDS dataset name (default: the descriptor's name).
    splits: splits to export (default: every split in `dataset_dir`).
    version: TFDS version `x.y.z`.
    num_shards: files per split (default: TFDS's choice by size; at most
      the smallest split's example count).
  Returns:
    The directory written.
  Raises:
    DataError: bad name, missing split, or the version already exists.
  """
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  name = name or descriptor.name
  check_name(name)
  splits = list(splits or schema.available_splits(dataset_dir))
  if not splits:
    raise DataError("no TFRecord splits in %s" % dataset_dir)
  split_files = {split: list_split_files(dataset_dir, split)
                 for split in splits}
  target = os.path.join(output_dir, name, version)
  if os.path.exists(target):
    raise DataError("%s already exists; remove it or export another "
                    "--version" % target)
  if num_shards is not None:
    smallest = min(sum(1 for _ in tf.data.TFRecordDataset(files))
                   for files in split_files.values())
    num_shards = max(1, min(int(num_shards), smallest))
  os.makedirs(output_dir, exist_ok=True)
  builder = make_builder_class(name, descriptor, split_files, version)(
      data_dir=output_dir)
  with tempfile.TemporaryDirectory(prefix="deeplab_tfds_dl_") as downloads:
    builder.download_and_prepare(
        download_dir=downloads,
        download_config=tfds.download.DownloadConfig(num_shards=num_shards))
  return str(builder.data_dir)
