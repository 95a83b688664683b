"""Colourising label maps, overlays and PNG output.

Label values outside the colormap (the ignore label) are drawn in
`ignore_color` (white by default).
"""

import io
from typing import Optional, Sequence, Tuple

import numpy as np
from PIL import Image

from deeplab_tf.atomic_io import atomic_write_bytes


Color = Tuple[int, int, int]


def colormap_table(colormap: Sequence[Color],
                   ignore_color: Color = (255, 255, 255)) -> np.ndarray:
  """uint8 [256, 3]: colour of every 8-bit label value."""
  table = np.tile(np.array(ignore_color, np.uint8), (256, 1))
  if len(colormap):
    table[:len(colormap)] = np.asarray(colormap, np.uint8)[:256]
  return table


def colorize(labels, colormap: Sequence[Color],
             ignore_color: Color = (255, 255, 255)) -> np.ndarray:
  """uint8 [..., 3] RGB of integer labels [...] (NumPy)."""
  labels = np.clip(np.asarray(labels).astype(np.int64), 0, 255)
  return colormap_table(colormap, ignore_color)[labels]


def overlay(image, labels, colormap: Sequence[Color], alpha: float = 0.5,
            ignore_label: Optional[int] = None) -> np.ndarray:
  """uint8 RGB: the image blended with the colourised labels (ignored
  pixels show the plain image)."""
  image = np.asarray(image, np.float32)
  colors = colorize(labels, colormap).astype(np.float32)
  blended = (1.0 - alpha) * image + alpha * colors
  if ignore_label is not None:
    keep = (np.asarray(labels) == ignore_label)[..., None]
    blended = np.where(keep, image, blended)
  return np.clip(blended + 0.5, 0, 255).astype(np.uint8)


def encode_png(array: np.ndarray) -> bytes:
  """PNG bytes of a uint8 [H, W] (grey / raw ids) or [H, W, 3] array."""
  buffer = io.BytesIO()
  Image.fromarray(np.asarray(array, np.uint8)).save(buffer, format="PNG")
  return buffer.getvalue()


def save_png(path: str, array: np.ndarray):
  """Writes a PNG atomically (temporary file then rename)."""
  atomic_write_bytes(path, encode_png(array))
