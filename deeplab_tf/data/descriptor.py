"""DatasetDescriptor: what a dataset is, independent of where it lives."""

import dataclasses
from typing import Dict, Optional, Tuple

from deeplab_tf.data.errors import DataError

Color = Tuple[int, int, int]


@dataclasses.dataclass(frozen=True)
class DatasetDescriptor:
  """Name, classes, ignore label, colours and split sizes of a dataset.

  Attributes:
    name: dataset name (a label-map file's stem for custom datasets).
    num_classes: number of classes the model predicts; valid label values
      are [0, num_classes) plus `ignore_label`.
    ignore_label: label value excluded from loss and metrics (255 for VOC and
      Cityscapes, 0 for ADE20K where it is also class 0 "other", 11 for
      CamVid's void).
    class_names: one name per class id, len == num_classes.
    colormap: one (r, g, b) per class id, used to draw predictions and to
      read RGB colour masks.
    splits_to_sizes: number of examples per split (informative; the reader
      never relies on it).
    ignore_color: colour of the ignore label in RGB masks, when it has one.
  """
  name: str
  num_classes: int
  ignore_label: int
  class_names: Tuple[str, ...]
  colormap: Tuple[Color, ...]
  splits_to_sizes: Dict[str, int] = dataclasses.field(default_factory=dict)
  ignore_color: Optional[Color] = None

  def __post_init__(self):
    if self.num_classes < 1:
      raise DataError("%s: num_classes must be >= 1, got %d"
                      % (self.name, self.num_classes))
    if not 0 <= self.ignore_label <= 255:
      raise DataError("%s: ignore_label must be in [0, 255] (labels are "
                      "stored as 8-bit PNGs), got %d"
                      % (self.name, self.ignore_label))
    if len(self.class_names) != self.num_classes:
      raise DataError("%s: %d class names for %d classes"
                      % (self.name, len(self.class_names), self.num_classes))
    if self.colormap and len(self.colormap) != self.num_classes:
      raise DataError("%s: %d colormap entries for %d classes"
                      % (self.name, len(self.colormap), self.num_classes))
    colors = list(self.colormap) + (
        [self.ignore_color] if self.ignore_color is not None else [])
    if len(set(colors)) != len(colors):
      raise DataError("%s: colormap has duplicate colours, so RGB masks "
                      "would be ambiguous" % self.name)

  def valid_label(self, value: int) -> bool:
    """True for a class id or the ignore label."""
    return 0 <= value < self.num_classes or value == self.ignore_label

  @property
  def ignore_is_class(self) -> bool:
    """True when the ignore label is also a class id (ADE20K's 0)."""
    return self.ignore_label < self.num_classes

  def color_to_id(self) -> Dict[Color, int]:
    """Colour -> label value for reading RGB masks (ignore colour included)."""
    if not self.colormap:
      raise DataError("%s has no colormap; RGB colour masks need one "
                      "(give a label-map file with colours)" % self.name)
    table = {tuple(c): i for i, c in enumerate(self.colormap)}
    if self.ignore_color is not None:
      table[tuple(self.ignore_color)] = self.ignore_label
    return table
