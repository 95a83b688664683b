"""Adapters: TFDS segmentation features -> our (image, label ids) form.

A TFDS dataset names its features as it likes (`image_left` /
`segmentation_label` in Cityscapes, `annotation` in scene_parse150, a
1/2/3 trimap in oxford_iiit_pet). An adapter says which feature is the
image, which is the mask, how mask values become our label ids (a 256-entry
lookup table) and which descriptor (class names, ignore label) applies, so
a TFDS example leaves `convert` exactly as a TFRecord example leaves
`input_pipeline.decode_example`.
"""

import dataclasses
import json
from typing import Dict, Optional, Tuple

import tensorflow as tf

from deeplab_tf.data import cityscapes_labels
from deeplab_tf.data import tfrecord_schema as schema
from deeplab_tf.data.builtin import BUILTIN_DESCRIPTORS
from deeplab_tf.data.descriptor import DatasetDescriptor
from deeplab_tf.data.errors import DataError

DEFAULT_IMAGE_KEY = "image"
DEFAULT_LABEL_KEY = "segmentation_mask"
# Key under which our exported TFDS datasets keep their label map (the JSON
# of `label_map.write_label_map`) in `DatasetInfo.metadata`.
METADATA_LABEL_MAP_KEY = "deeplab_label_map"

# The Oxford-IIIT Pet trimap: 1 = pet, 2 = background, 3 = border.
PET_TRIMAP_PET, PET_TRIMAP_BACKGROUND, PET_TRIMAP_BORDER = 1, 2, 3
OXFORD_PET_DESCRIPTOR = DatasetDescriptor(
    name="oxford_iiit_pet", num_classes=2, ignore_label=255,
    class_names=("background", "pet"), colormap=((0, 0, 0), (128, 0, 0)),
    splits_to_sizes={"train": 3680, "test": 3669},
    ignore_color=(224, 224, 192))


@dataclasses.dataclass(frozen=True)
class TfdsAdapter:
  """How one TFDS dataset's features become an (image, label) pair.

  Attributes:
    descriptor: classes, ignore label and colours of the *converted* labels.
    image_key: the image feature.
    label_key: the mask feature.
    id_map: 256 label values indexed by the stored mask value, or None to
      keep the stored values.
    filename_key: a string feature naming the example (None: TFDS's own
      `tfds_id`, `<file>__<index>`).
    gray_label_channels: the mask is stored as an RGB image whose channels
      are all equal (scene_parse150); channel 0 is taken.
  """
  descriptor: DatasetDescriptor
  image_key: str = DEFAULT_IMAGE_KEY
  label_key: str = DEFAULT_LABEL_KEY
  id_map: Optional[Tuple[int, ...]] = None
  filename_key: Optional[str] = None
  gray_label_channels: bool = False

  def __post_init__(self):
    if self.id_map is not None:
      object.__setattr__(self, "id_map", tuple(int(v) for v in self.id_map))
      if len(self.id_map) != 256:
        raise DataError("an id map has 256 entries, got %d" % len(self.id_map))

  def map_label(self, label):
    """Stored mask values [H, W] (any integer dtype) -> uint8 label ids."""
    label = tf.convert_to_tensor(label)
    if label.dtype != tf.uint8:
      label = tf.cast(label, tf.int32)
      check = tf.debugging.assert_less_equal(
          tf.reduce_max(tf.concat([tf.reshape(label, [-1]), [0]], 0)), 255,
          message="mask values above 255 in feature " + self.label_key)
      with tf.control_dependencies([check]):
        label = tf.cast(label, tf.uint8)
    if self.id_map is not None:
      table = tf.constant(self.id_map, tf.uint8)
      label = tf.gather(table, tf.cast(label, tf.int32))
    return label

  def convert(self, image, label, filename) -> Dict[str, tf.Tensor]:
    """Decoded TFDS image [H, W, C] and mask [H, W(, C)] -> the dict of
    `input_pipeline.decode_example` ("image" uint8 [H, W, 3], "label" uint8
    [H, W], "height", "width" int32, "filename" string)."""
    image = tf.convert_to_tensor(image)
    if image.shape.rank == 2:
      image = image[:, :, tf.newaxis]
    channels = image.shape[-1]
    if channels == 1:
      image = tf.image.grayscale_to_rgb(image)
    elif channels == 4:
      image = image[:, :, :3]
    image = tf.ensure_shape(tf.cast(image, tf.uint8), [None, None, 3])
    label = tf.convert_to_tensor(label)
    if label.shape.rank == 3:
      label = label[:, :, 0]
    label = self.map_label(label)
    return schema.checked_example(
        image, label, tf.convert_to_tensor(filename, tf.string),
        "image and mask sizes differ in TFDS example ")


def table_from_pairs(pairs: Dict[int, int], default=None) -> Tuple[int, ...]:
  """256-entry id map: `pairs[v]` where given, else `default` (None: v)."""
  table = [v if default is None else default for v in range(256)]
  for source, target in pairs.items():
    table[int(source)] = int(target)
  return tuple(table)


def _cityscapes_adapter():
  table = cityscapes_labels.label_id_to_train_id_table(255)
  return TfdsAdapter(BUILTIN_DESCRIPTORS["cityscapes"], image_key="image_left",
                     label_key="segmentation_label", id_map=tuple(table),
                     filename_key="image_id")


# TFDS name[/config] -> adapter. scene_parse150 keeps ADE20K's convention
# (0 = "other" = ignore, 1..150 classes), the same as our ade20k records.
NAMED_ADAPTERS = {
    "cityscapes/semantic_segmentation": _cityscapes_adapter(),
    "cityscapes/semantic_segmentation_extra": _cityscapes_adapter(),
    "scene_parse150": TfdsAdapter(BUILTIN_DESCRIPTORS["ade20k"],
                                  image_key="image", label_key="annotation",
                                  gray_label_channels=True),
    "oxford_iiit_pet": TfdsAdapter(
        OXFORD_PET_DESCRIPTOR, image_key="image",
        label_key="segmentation_mask", filename_key="file_name",
        id_map=table_from_pairs({PET_TRIMAP_PET: 1, PET_TRIMAP_BACKGROUND: 0,
                                 PET_TRIMAP_BORDER: 255}, default=255)),
}


def read_remap(label_map_path: str,
               descriptor: DatasetDescriptor) -> Optional[Tuple[int, ...]]:
  """The optional `"remap": {"<stored value>": <label id>, ...}` of a JSON
  label map (stored values not listed keep their value), or None; every
  target must be a class id or the ignore label of `descriptor`."""
  if not label_map_path.endswith(".json"):
    return None
  with open(label_map_path, encoding="utf-8") as f:
    data = json.load(f)
  remap = data.get("remap")
  if remap is None:
    return None
  try:
    pairs = {int(k): int(v) for k, v in remap.items()}
  except (AttributeError, TypeError, ValueError):
    raise DataError("%s: 'remap' must map stored mask values to label ids, "
                    "e.g. {\"255\": 11}" % label_map_path) from None
  bad = sorted({k for k in pairs if not 0 <= k <= 255})
  if bad:
    raise DataError("%s: 'remap' keys %s are outside [0, 255]"
                    % (label_map_path, bad))
  bad = sorted({v for v in pairs.values() if not descriptor.valid_label(v)})
  if bad:
    raise DataError("%s: 'remap' targets %s are neither class ids (0..%d) "
                    "nor the ignore label %d" % (label_map_path, bad,
                                                 descriptor.num_classes - 1,
                                                 descriptor.ignore_label))
  return table_from_pairs(pairs)
