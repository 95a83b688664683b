"""TensorFlow Datasets as a data source, a peer of our TFRecord directories.

`--dataset=tfds:<name>[/<config>][:<version>]` names a TFDS dataset; a
`TfdsSource` carries it with the TFDS data directory and the feature keys.
Reading goes through TFDS itself (`builder.as_dataset` with `shuffle_files`
and a `ReadConfig` holding the `tf.distribute.InputContext`, so each input
pipeline reads its own files), images and masks are left encoded until
after shuffling, and each example is converted by its adapter into the same
dict `input_pipeline.decode_example` returns, so preprocessing,
augmentation and evaluation are shared.

Nothing is downloaded unless `download=True` (`--tfds_download`).
`tensorflow_datasets` is imported only when a TFDS source is used.
"""

import dataclasses
import os
from typing import Any, Dict, Optional

from deeplab_tf.data import tfds_adapters as adapters
from deeplab_tf.data.descriptor import DatasetDescriptor
from deeplab_tf.data.errors import DataError
from deeplab_tf.data.label_map import label_map_from_dict

PREFIX = "tfds:"
TFDS_ID = "tfds_id"
# The command-line flags that describe a TFDS source.
FLAG_NAMES = ("tfds_data_dir", "tfds_download", "tfds_image_key",
              "tfds_label_key", "label_map")


def is_tfds(dataset: Optional[str]) -> bool:
  """True for a `tfds:<name>` dataset value."""
  return isinstance(dataset, str) and dataset.startswith(PREFIX)


@dataclasses.dataclass(frozen=True)
class TfdsSource:
  """A TFDS dataset and how to read it.

  Attributes:
    name: `<name>[/<config>][:<version>]` as `tfds.builder` takes it.
    data_dir: TFDS data directory (None: TFDS's default,
      `$TFDS_DATA_DIR` or ~/tensorflow_datasets).
    download: download and prepare the dataset if it is not prepared.
    image_key, label_key: feature names (None: the adapter's, else `image`
      and `segmentation_mask`).
    label_map: built-in dataset name or label-map file describing the
      classes (None: the named adapter's, else the dataset's own metadata
      as written by `datasets.export_tfds`).
  """
  name: str
  data_dir: Optional[str] = None
  download: bool = False
  image_key: Optional[str] = None
  label_key: Optional[str] = None
  label_map: Optional[str] = None

  def __post_init__(self):
    name = self.name[len(PREFIX):] if is_tfds(self.name) else self.name
    if not name or name.startswith(("/", ":")):
      raise DataError("--dataset=tfds:%s: give a TFDS dataset name, e.g. "
                      "tfds:oxford_iiit_pet or tfds:cityscapes/"
                      "semantic_segmentation:1.0.0" % name)
    object.__setattr__(self, "name", name)
    if self.data_dir:
      object.__setattr__(self, "data_dir", os.path.expanduser(self.data_dir))

  @property
  def dataset(self) -> str:
    """The `--dataset` value (`tfds:<name>`)."""
    return PREFIX + self.name

  def to_dict(self) -> Dict[str, Any]:
    d = dataclasses.asdict(self)
    if d["data_dir"]:
      d["data_dir"] = os.path.abspath(d["data_dir"])
    if d["label_map"] and os.path.exists(d["label_map"]):
      d["label_map"] = os.path.abspath(d["label_map"])
    return d

  @classmethod
  def from_dict(cls, d: Dict[str, Any]) -> "TfdsSource":
    fields = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in d.items() if k in fields})

  @classmethod
  def from_values(cls, dataset: str, values: Dict[str, Any]) -> "TfdsSource":
    """From flag values (`tfds_data_dir`, `tfds_download`, ...)."""
    return cls(name=dataset, data_dir=values.get("tfds_data_dir") or None,
               download=bool(values.get("tfds_download")),
               image_key=values.get("tfds_image_key") or None,
               label_key=values.get("tfds_label_key") or None,
               label_map=values.get("label_map") or None)


def _tfds():
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  return tfds


def _prepare_hint(source: TfdsSource, where: str) -> str:
  data_dir = source.data_dir or "~/tensorflow_datasets"
  return ("prepare it with `tfds build %s --data_dir=%s` (datasets that need "
          "a manual download, such as cityscapes, want their archives in "
          "%s/downloads/manual first), write one of ours with `python -m "
          "datasets.export_tfds`, or pass --tfds_download to download and "
          "prepare it now; TFDS looked in %s"
          % (source.name, data_dir, data_dir, where))


def load_builder(source: TfdsSource):
  """The prepared `tfds.core.DatasetBuilder` of `source`.

  Raises:
    DataError: unknown dataset, missing data directory, or a dataset that
      is not prepared there (the message says where TFDS looked and how to
      prepare it).
  """
  tfds = _tfds()
  if source.data_dir and not os.path.isdir(source.data_dir):
    if not source.download:
      raise DataError("--tfds_data_dir=%s does not exist; %s"
                      % (source.data_dir,
                         _prepare_hint(source, source.data_dir)))
    os.makedirs(source.data_dir, exist_ok=True)
  try:
    builder = tfds.builder(source.name, data_dir=source.data_dir)
  except tfds.core.registered.DatasetNotFoundError:
    raise DataError(
        "--dataset=tfds:%s: unknown TFDS dataset (neither a registered TFDS "
        "builder nor a prepared dataset in %s)"
        % (source.name, source.data_dir or "the default TFDS data dir")
    ) from None
  except Exception as e:  # pylint: disable=broad-except
    # Bad config or version: TFDS names what exists.
    raise DataError("--dataset=tfds:%s: %s" % (source.name,
                                               str(e).splitlines()[0])) from None
  if not builder.is_prepared():
    if not source.download:
      raise DataError("TFDS dataset %s is not prepared in %s; %s"
                      % (source.name, builder.data_dir,
                         _prepare_hint(source, builder.data_dir)))
    try:
      builder.download_and_prepare()
    except Exception as e:  # pylint: disable=broad-except
      # E.g. a manual download missing: TFDS's message says what to place
      # where.
      raise DataError("TFDS could not download and prepare %s in %s: %s"
                      % (source.name, builder.data_dir,
                         str(e).strip().splitlines()[0])) from None
  return builder


def builder_key(builder) -> str:
  """`name` or `name/config` of a builder (the adapter table's key)."""
  config = getattr(builder, "builder_config", None)
  return builder.name + ("/" + config.name if config is not None else "")


def _metadata_descriptor(builder) -> Optional[DatasetDescriptor]:
  """The label map our exporter stores in the dataset's metadata."""
  metadata = builder.info.metadata or {}
  data = metadata.get(adapters.METADATA_LABEL_MAP_KEY)
  if not data:
    return None
  return label_map_from_dict(data, "%s metadata %s" % (
      builder.data_dir, adapters.METADATA_LABEL_MAP_KEY))


def resolve_adapter(source: TfdsSource, builder) -> adapters.TfdsAdapter:
  """The adapter of `source`: named adapter, --label_map or metadata, then
  the flag overrides; DataError naming a missing feature or description."""
  from deeplab_tf.data.registry import get_dataset_descriptor  # pylint: disable=g-import-not-at-top
  key = builder_key(builder)
  adapter = adapters.NAMED_ADAPTERS.get(key)
  if adapter is None:
    descriptor = _metadata_descriptor(builder)
    if descriptor is None and not source.label_map:
      raise DataError(
          "--dataset=tfds:%s: TFDS dataset %s has no adapter (built in: %s) "
          "and no class description in its metadata; pass --label_map=<a "
          "built-in dataset name or a label-map file>"
          % (source.name, key, ", ".join(sorted(adapters.NAMED_ADAPTERS))))
    adapter = adapters.TfdsAdapter(descriptor or get_dataset_descriptor(
        source.label_map))
    if "file_name" in builder.info.features:
      adapter = dataclasses.replace(adapter, filename_key="file_name")
  changes = {}
  if source.label_map:
    descriptor = get_dataset_descriptor(source.label_map)
    changes.update(descriptor=descriptor,
                   id_map=adapters.read_remap(source.label_map, descriptor)
                   if os.path.isfile(source.label_map) else None)
  if source.image_key:
    changes["image_key"] = source.image_key
  if source.label_key:
    changes["label_key"] = source.label_key
  adapter = dataclasses.replace(adapter, **changes)
  _check_features(source, builder, adapter)
  return adapter


def _check_features(source: TfdsSource, builder, adapter):
  features = builder.info.features
  for flag, key in (("tfds_image_key", adapter.image_key),
                    ("tfds_label_key", adapter.label_key)):
    if key not in features:
      raise DataError("--%s=%s: TFDS dataset %s has no feature %r (its "
                      "features: %s)" % (flag, key, source.name, key,
                                         ", ".join(sorted(features.keys()))))
  shape = features[adapter.label_key].shape
  if len(shape) == 3 and shape[-1] != 1 and not adapter.gray_label_channels:
    raise DataError("--tfds_label_key=%s: feature %r of %s has %s channels; "
                    "a mask needs one channel of class ids"
                    % (adapter.label_key, adapter.label_key, source.name,
                       shape[-1]))


def descriptor_for(source: TfdsSource) -> DatasetDescriptor:
  """The descriptor (classes, ignore label) of the converted labels."""
  return resolve_adapter(source, load_builder(source)).descriptor


def _is_image(feature) -> bool:
  return type(feature).__name__ == "Image"


def read_split(source: TfdsSource, split: str, *, shuffle_files: bool,
               seed=None, input_context=None, builder=None):
  """(dataset of encoded TFDS examples, decode_fn) of a split.

  `decode_fn(example)` returns the dict of `input_pipeline.decode_example`.
  Under `input_context` TFDS gives each input pipeline its own files; with
  fewer files than pipelines, examples are sharded instead.
  """
  tfds = _tfds()
  builder = builder or load_builder(source)
  adapter = resolve_adapter(source, builder)
  features = builder.info.features
  keys = [adapter.image_key, adapter.label_key]
  skip = {k: tfds.decode.SkipDecoding() for k in keys if _is_image(features[k])}
  wanted = set(keys) | ({adapter.filename_key} if adapter.filename_key
                        else set())
  decoders = tfds.decode.PartialDecoding(
      {k: features[k] for k in sorted(wanted)}, decoders=skip)

  def as_dataset(context):
    config = tfds.ReadConfig(shuffle_seed=seed, input_context=context,
                             add_tfds_id=True)
    return builder.as_dataset(split=split, shuffle_files=shuffle_files,
                              decoders=decoders, read_config=config)
  num_pipelines = input_context.num_input_pipelines if input_context else 1
  try:
    try:
      dataset = as_dataset(input_context)
    except ValueError as e:
      if num_pipelines <= 1 or "Cannot shard" not in str(e):
        raise
      dataset = as_dataset(None).shard(num_pipelines,
                                       input_context.input_pipeline_id)
  except (ValueError, KeyError, AssertionError) as e:
    raise DataError("TFDS dataset %s: cannot read split %r (%s; splits: %s)"
                    % (source.name, split, str(e).splitlines()[0],
                       ", ".join(sorted(builder.info.splits.keys())))
                    ) from None

  def decode(example):
    image, label = example[adapter.image_key], example[adapter.label_key]
    if adapter.image_key in skip:
      image = features[adapter.image_key].decode_example(image)
    if adapter.label_key in skip:
      label = features[adapter.label_key].decode_example(label)
    name = (example[adapter.filename_key] if adapter.filename_key
            else example[TFDS_ID])
    return adapter.convert(image, label, name)
  return dataset, decode


def read_examples(source: TfdsSource, split: str, count: Optional[int] = None):
  """Decoded examples of a split in file order (for export and checks)."""
  dataset, decode = read_split(source, split, shuffle_files=False)
  if count is not None:
    dataset = dataset.take(count)
  return dataset.map(decode)

