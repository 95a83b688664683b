"""A synthetic segmentation dataset with learnable structure.

Each image is a textured background with a few shapes: discs, squares,
triangles and bars (classes 1-4), each class with its own colour family and
texture (plain, stripes, checks, dots) so that colour, texture and shape
all carry the class. Like VOC, a thin band around every object is labelled
ignore (255), and some images carry an ignore patch. Written in the
reference TFRecord schema with a `label_map.json` beside the records, so
`python train.py` can run with no downloaded data.
"""

import dataclasses
import io
import zlib
from typing import Optional, Tuple

import numpy as np
from PIL import Image

from deeplab_tf.data.encode_splits import build_splits
from deeplab_tf.data.builtin import BUILTIN_DESCRIPTORS
from deeplab_tf.data.descriptor import DatasetDescriptor
from deeplab_tf.data.image_io import EncodedPair, encode_label_png

DESCRIPTOR = BUILTIN_DESCRIPTORS["synthetic"]
_BOUNDARY = 2  # width in pixels of the ignore band around each object


@dataclasses.dataclass(frozen=True)
class SyntheticExample:
  seed: int
  split: str
  index: int
  height: int
  width: int

  @property
  def filename(self) -> str:
    return "%s_%05d" % (self.split, self.index)


def _texture(kind: int, yy, xx, phase: float):
  """A [H, W] pattern in [-1, 1] per class: plain, stripes, checks, dots."""
  if kind == 1:
    return np.zeros_like(yy, np.float32)
  if kind == 2:
    return np.sign(np.sin((xx + yy + phase) * 0.8)).astype(np.float32)
  if kind == 3:
    return (np.sign(np.sin(xx * 0.9 + phase)) *
            np.sign(np.sin(yy * 0.9))).astype(np.float32)
  return (np.cos(xx * 1.2 + phase) * np.cos(yy * 1.2) > 0.5) * 2.0 - 1.0


def _shape_mask(kind: int, yy, xx, cy, cx, size, angle):
  """Boolean mask of a disc, square, triangle or bar centred at (cy, cx)."""
  dy, dx = yy - cy, xx - cx
  c, s = np.cos(angle), np.sin(angle)
  u, v = c * dx + s * dy, -s * dx + c * dy  # rotated coordinates
  if kind == 1:
    return dy * dy + dx * dx <= size * size
  if kind == 2:
    return (np.abs(u) <= size * 0.8) & (np.abs(v) <= size * 0.8)
  if kind == 3:
    return (v <= size * 0.6) & (v >= -size + 1.7 * np.abs(u))
  return (np.abs(u) <= size * 1.6) & (np.abs(v) <= max(3.0, size * 0.3))


def render(example: SyntheticExample) -> Tuple[np.ndarray, np.ndarray]:
  """uint8 image [H, W, 3] and uint8 label [H, W] of one example."""
  rng = np.random.default_rng([example.seed,
                               zlib.crc32(example.split.encode()),
                               example.index])
  h, w = example.height, example.width
  yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
  # Background: a soft colour gradient plus fine noise.
  base = rng.uniform(60, 200, 3)
  slope = rng.uniform(-40, 40, (2, 3))
  image = (base + slope[0] * (yy / h)[..., None] + slope[1] * (xx / w)[..., None]
           + rng.normal(0, 6, (h, w, 3)))
  label = np.zeros((h, w), np.uint8)
  for _ in range(rng.integers(2, 6)):
    kind = int(rng.integers(1, DESCRIPTOR.num_classes))
    size = rng.uniform(0.08, 0.22) * min(h, w)
    cy, cx = rng.uniform(0, h), rng.uniform(0, w)
    mask = _shape_mask(kind, yy, xx, cy, cx, size, rng.uniform(0, np.pi))
    if not mask.any():
      continue
    colour = np.array(DESCRIPTOR.colormap[kind], np.float32)
    colour = colour + rng.uniform(-30, 30, 3)
    pattern = _texture(kind, yy, xx, rng.uniform(0, 6.3))[..., None] * 35.0
    image = np.where(mask[..., None], colour + pattern, image)
    label[_dilate(mask, _BOUNDARY) & ~mask] = DESCRIPTOR.ignore_label
    label[mask] = kind
  if rng.random() < 0.3:  # an unlabelled patch, like VOC's "difficult" areas
    py, px = int(rng.integers(0, h - h // 6)), int(rng.integers(0, w - w // 6))
    label[py:py + h // 6, px:px + w // 6] = DESCRIPTOR.ignore_label
  return np.clip(image, 0, 255).astype(np.uint8), label


def _shift_any(mask, r, op):
  """op over all shifts within r (edge-padded, no wrap-around)."""
  h, w = mask.shape
  padded = np.pad(mask, r, mode="edge")
  out = mask.copy()
  for dy in range(2 * r + 1):
    for dx in range(2 * r + 1):
      out = op(out, padded[dy:dy + h, dx:dx + w])
  return out


def _dilate(mask, r):
  return _shift_any(mask, r, np.logical_or)


def encode_synthetic(example: SyntheticExample) -> EncodedPair:
  image, label = render(example)
  buffer = io.BytesIO()
  Image.fromarray(image).save(buffer, format="PNG")
  return EncodedPair(buffer.getvalue(), "png", example.filename,
                     example.height, example.width, encode_label_png(label),
                     np.bincount(label.ravel(), minlength=256))


def write_synthetic_dataset(output_dir: str, *, num_train: int = 64,
                            num_val: int = 16,
                            image_size: Tuple[int, int] = (128, 128),
                            seed: int = 0, num_shards: int = 2,
                            num_workers: Optional[int] = 1,
                            verbose: bool = False) -> DatasetDescriptor:
  """Writes `train` and `val` splits plus `label_map.json` to `output_dir`.

  Deterministic for a given seed. The returned descriptor (the built-in
  "synthetic" one with these split sizes) is also what
  `get_dataset_descriptor(output_dir)` or `get_dataset_descriptor(
  "synthetic")` gives.
  """
  if isinstance(image_size, int):
    image_size = (image_size, image_size)
  height, width = int(image_size[0]), int(image_size[1])
  splits = {
      split: [SyntheticExample(seed, split, i, height, width)
              for i in range(count)]
      for split, count in (("train", num_train), ("val", num_val))}
  build_splits(output_dir, DESCRIPTOR, splits, encode_synthetic,
               num_shards=num_shards, num_workers=num_workers,
               verbose=verbose)
  return dataclasses.replace(DESCRIPTOR, splits_to_sizes={
      "train": num_train, "val": num_val})
