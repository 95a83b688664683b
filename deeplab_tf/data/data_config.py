"""DataConfig: the data section of a run (which dataset, where, how cropped
and augmented), and its JSON form in deeplab_config.json.

The dataset's identity (classes, ignore label, names, colours) is its
`DatasetDescriptor`; where its records live is `dataset_dir`, or `tfds` for
a TensorFlow Datasets source. The crop is data, not model: the same weights
run at any size, so it lives here and not in `ModelOptions`.
"""

import dataclasses
import os
from typing import Any, Dict, Optional, Tuple

from deeplab_tf.data.descriptor import DatasetDescriptor
from deeplab_tf.data.tfds_source import TfdsSource
from deeplab_tf.errors import ConfigError

# The paper's training crop for PASCAL VOC.
PAPER_CROP_SIZE = (513, 513)


def as_size(value, flag: str) -> Tuple[int, int]:
  """'h,w' / [h, w] / h -> (h, w); ConfigError naming the flag."""
  if isinstance(value, str):
    value = value.split(",")
  if isinstance(value, int):
    value = [value, value]
  text = (",".join(str(v) for v in value) if isinstance(value, (list, tuple))
          else repr(value))
  try:
    size = tuple(int(v) for v in value)
  except (TypeError, ValueError):
    raise ConfigError("--%s=%s must be 'height,width'" % (flag, text)) from None
  if len(size) == 1:
    size = size * 2
  if len(size) != 2 or min(size) < 1:
    raise ConfigError("--%s=%s must be two positive integers 'height,width'"
                      % (flag, text))
  return size


@dataclasses.dataclass(frozen=True)
class Augmentation:
  """Training-time augmentation (the authors' flag names).

  Attributes:
    min_scale_factor, max_scale_factor, scale_factor_step_size: random
      scaling in [min, max] in steps (0.5-2.0 by 0.25 in the paper).
    min_resize_value, max_resize_value: resize the short side to at least
      min and the long side to at most max first (None: no resize).
  """
  min_scale_factor: float = 0.5
  max_scale_factor: float = 2.0
  scale_factor_step_size: float = 0.25
  min_resize_value: Optional[int] = None
  max_resize_value: Optional[int] = None

  def __post_init__(self):
    if not 0 < self.min_scale_factor <= self.max_scale_factor:
      raise ConfigError(
          "--min_scale_factor=%g / --max_scale_factor=%g: need 0 < min <= max"
          % (self.min_scale_factor, self.max_scale_factor))
    if self.scale_factor_step_size < 0:
      raise ConfigError("--scale_factor_step_size=%g must be >= 0"
                        % self.scale_factor_step_size)


@dataclasses.dataclass(frozen=True)
class DataConfig:
  """Which data a run reads and how.

  Attributes:
    descriptor: the dataset's classes, ignore label, names and colours.
    dataset_dir: directory of `{split}-*.tfrecord` files ("" for TFDS).
    train_split, eval_split: the splits trained on and evaluated.
    crop_size: the training crop [height, width]; evaluation pads to its
      own crop (EvalConfig.crop_size), by default this one.
    augmentation: random scaling and resizing during training.
    tfds: a TensorFlow Datasets source read instead of dataset_dir.
  """
  descriptor: DatasetDescriptor
  dataset_dir: str = ""
  train_split: str = "train"
  eval_split: str = "val"
  crop_size: Tuple[int, int] = PAPER_CROP_SIZE
  augmentation: Augmentation = Augmentation()
  tfds: Optional[TfdsSource] = None

  def __post_init__(self):
    object.__setattr__(self, "crop_size",
                       as_size(self.crop_size, "train_crop_size"))

  # The descriptor's fields, read through the section.
  @property
  def name(self) -> str:
    return self.descriptor.name

  @property
  def num_classes(self) -> int:
    return self.descriptor.num_classes

  @property
  def ignore_label(self) -> int:
    return self.descriptor.ignore_label

  @property
  def class_names(self) -> Tuple[str, ...]:
    return self.descriptor.class_names

  @property
  def colormap(self):
    return self.descriptor.colormap

  @property
  def source(self):
    """What the input pipeline reads: the TfdsSource or the directory."""
    return self.tfds or self.dataset_dir

  def replace(self, **changes) -> "DataConfig":
    return dataclasses.replace(self, **changes)

  # ------------------------------------------------------- serialisation
  def to_dict(self) -> Dict[str, Any]:
    """The "data" section of deeplab_config.json (paths made absolute)."""
    d = {"name": self.name, "num_classes": self.num_classes,
         "ignore_label": self.ignore_label,
         "class_names": list(self.class_names),
         "colormap": [list(c) for c in self.colormap],
         "dataset_dir": (os.path.abspath(self.dataset_dir)
                         if self.dataset_dir else ""),
         "train_split": self.train_split, "eval_split": self.eval_split,
         "crop_size": list(self.crop_size),
         "augmentation": dataclasses.asdict(self.augmentation)}
    if self.tfds is not None:
      d["tfds"] = self.tfds.to_dict()
    return d

  @classmethod
  def from_dict(cls, d: Dict[str, Any]) -> "DataConfig":
    """Inverse of to_dict; a section without names or colours (an old
    converted checkpoint) gets numbered names and the bit colormap."""
    num_classes, ignore = int(d["num_classes"]), int(d.get("ignore_label",
                                                             255))
    if d.get("class_names"):
      descriptor = with_colormap(DatasetDescriptor(
          name=d.get("name") or "", num_classes=num_classes,
          ignore_label=ignore, class_names=tuple(d["class_names"]),
          colormap=tuple(tuple(int(v) for v in c)
                         for c in d.get("colormap") or ())))
    else:
      descriptor = generic_descriptor(d.get("name") or "", num_classes, ignore)
    return cls(descriptor=descriptor, dataset_dir=d.get("dataset_dir") or "",
               train_split=d.get("train_split", "train"),
               eval_split=d.get("eval_split", "val"),
               crop_size=d.get("crop_size", PAPER_CROP_SIZE),
               augmentation=Augmentation(**(d.get("augmentation") or {})),
               tfds=TfdsSource.from_dict(d["tfds"]) if d.get("tfds") else None)


def with_colormap(descriptor: DatasetDescriptor) -> DatasetDescriptor:
  """The descriptor, given the bit colormap if it has no colours."""
  from deeplab_tf.data.builtin import bit_colormap  # pylint: disable=g-import-not-at-top
  if descriptor.colormap:
    return descriptor
  return dataclasses.replace(
      descriptor, colormap=tuple(bit_colormap(descriptor.num_classes)))


def generic_descriptor(name: str, num_classes: int,
                       ignore_label: int = 255) -> DatasetDescriptor:
  """A descriptor with numbered class names and the bit colormap (a
  --num_classes that overrides the dataset's, or a checkpoint's logits)."""
  from deeplab_tf.data.builtin import bit_colormap  # pylint: disable=g-import-not-at-top
  return DatasetDescriptor(
      name=name, num_classes=num_classes, ignore_label=ignore_label,
      class_names=tuple("class_%d" % i for i in range(num_classes)),
      colormap=tuple(bit_colormap(num_classes)))
