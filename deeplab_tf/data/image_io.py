"""Reading images and masks from disk for the builders (PIL + numpy only).

Every failure raises DataError naming the file. Runs in builder worker
processes, so it does not touch TensorFlow.
"""

import dataclasses
import io
import os
from typing import Optional

import numpy as np
import simplejpeg
from PIL import Image

from deeplab_tf.data.descriptor import DatasetDescriptor
from deeplab_tf.data.errors import DataError

MASK_FORMATS = ("auto", "raw", "palette", "rgb")
_EXIF_ORIENTATION = 0x0112
_TRANSPOSING = (5, 6, 7, 8)  # EXIF orientations that swap height and width


@dataclasses.dataclass(frozen=True)
class EncodedPair:
  """One example ready for `tfrecord_schema.make_example`."""
  image_bytes: bytes
  image_format: str
  filename: str
  height: int
  width: int
  label_png: bytes
  histogram: np.ndarray  # pixel count per label value 0..255


def _open(path: str, what: str) -> Image.Image:
  if not os.path.isfile(path):
    raise DataError("%s file %s does not exist" % (what, path))
  try:
    image = Image.open(path)
    image.load()  # decodes everything: catches truncated files
  except Exception as e:  # PIL raises many types for bad files.
    raise DataError("%s file %s is corrupt or truncated (%s)"
                    % (what, path, e)) from None
  return image


def check_jpeg_strictly(data: bytes, where: str):
  """DataError when a JPEG decodes only with libjpeg warnings (garbage or
  a gap in the entropy-coded data: PIL and TensorFlow decode such files
  silently into damaged pixels)."""
  try:
    colorspace = simplejpeg.decode_jpeg_header(data)[2]
    simplejpeg.decode_jpeg(
        data, strict=True, colorspace={"Gray": "GRAY", "CMYK": "CMYK",
                                       "YCCK": "CMYK"}.get(colorspace, "RGB"))
  except ValueError as e:
    raise DataError("%s is a corrupt JPEG (%s); re-export or remove it"
                    % (where, e)) from None


def exif_orientation(image: Image.Image) -> int:
  """The EXIF orientation tag (1 = as stored) of a PIL image."""
  try:
    return int(image.getexif().get(_EXIF_ORIENTATION, 1))
  except Exception:  # pylint: disable=broad-except
    return 1


def read_image(path: str):
  """Returns (bytes, 'jpeg'|'png', height, width) of an image file.

  JPEG and PNG files are stored byte for byte, like the reference; other
  formats are re-encoded as PNG. JPEGs are decoded strictly.
  """
  image = _open(path, "image")
  if (image.format or "").lower() == "jpeg":
    with open(path, "rb") as f:
      check_jpeg_strictly(f.read(), "image file %s" % path)
  if image.mode not in ("RGB", "RGBA", "L", "P", "LA", "I;16", "I", "CMYK"):
    raise DataError("image file %s has unsupported mode %s"
                    % (path, image.mode))
  fmt = (image.format or "").lower()
  width, height = image.size
  if fmt in ("jpeg", "png") and image.mode in ("RGB", "L", "RGBA", "P"):
    with open(path, "rb") as f:
      return f.read(), fmt, height, width
  buffer = io.BytesIO()
  image.convert("RGB").save(buffer, format="PNG")
  return buffer.getvalue(), "png", height, width


def read_mask(path: str, descriptor: DatasetDescriptor,
              mask_format: str = "auto",
              id_map: Optional[np.ndarray] = None) -> np.ndarray:
  """Reads a mask file into uint8 label values.

  Args:
    path: mask file.
    descriptor: gives the colormap for RGB masks.
    mask_format: 'raw' (single-channel ids), 'palette' (indexed PNG: the
      index is the id, the palette is ignored), 'rgb' (colours mapped
      through the descriptor's colormap), or 'auto' (from the PNG mode).
    id_map: optional 256-entry table applied to the ids (e.g. Cityscapes
      labelIds -> trainIds).
  Returns:
    uint8 [H, W].
  """
  if mask_format not in MASK_FORMATS:
    raise DataError("unknown mask format %r (one of %s)"
                    % (mask_format, ", ".join(MASK_FORMATS)))
  mask = _open(path, "label")
  mode = mask.mode
  if mask_format == "auto":
    mask_format = {"P": "palette", "RGB": "rgb", "RGBA": "rgb"}.get(mode,
                                                                    "raw")
  if mask_format == "palette":
    if mode != "P":
      raise DataError("label file %s is not a palette PNG (mode %s)"
                      % (path, mode))
    ids = np.asarray(mask, dtype=np.uint8)
  elif mask_format == "raw":
    if mode in ("RGB", "RGBA"):
      raise DataError("label file %s is an RGB image, not raw ids; use an "
                      "RGB mask format with a colormap" % path)
    ids = np.asarray(mask)
    if ids.dtype != np.uint8:
      if ids.min() < 0 or ids.max() > 255:
        raise DataError("label file %s has values outside [0, 255]" % path)
      ids = ids.astype(np.uint8)
  else:
    ids = _rgb_to_ids(mask, descriptor, path)
  if id_map is not None:
    ids = id_map[ids]
  return ids


def _rgb_to_ids(mask: Image.Image, descriptor: DatasetDescriptor,
                path: str) -> np.ndarray:
  if not descriptor.colormap:
    raise DataError("label file %s is an RGB colour mask but dataset %s has "
                    "no colormap; give a label map with colours"
                    % (path, descriptor.name))
  rgb = np.asarray(mask.convert("RGB"), dtype=np.uint32)
  codes = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
  table = {(r << 16) | (g << 8) | b: i
           for (r, g, b), i in descriptor.color_to_id().items()}
  uniques, inverse = np.unique(codes, return_inverse=True)
  unknown = [u for u in uniques if int(u) not in table]
  if unknown:
    shown = ", ".join("(%d, %d, %d)" % (u >> 16, (u >> 8) & 255, u & 255)
                      for u in unknown[:5])
    raise DataError("label file %s has colours not in the %s colormap: %s%s"
                    % (path, descriptor.name, shown,
                       " ..." if len(unknown) > 5 else ""))
  values = np.array([table[int(u)] for u in uniques], dtype=np.uint8)
  return values[inverse].reshape(codes.shape)


def encode_label_png(ids: np.ndarray) -> bytes:
  """8-bit greyscale PNG bytes of label ids [H, W] (the TFRecord label)."""
  buffer = io.BytesIO()
  Image.fromarray(ids.astype(np.uint8), mode="L").save(buffer, format="PNG")
  return buffer.getvalue()


def format_values(values) -> str:
  """[1, 2, 3, 7] -> '1-3, 7' (short messages for many bad values)."""
  values = sorted(int(v) for v in values)
  parts, start = [], None
  for i, v in enumerate(values):
    if start is None:
      start = v
    if i + 1 == len(values) or values[i + 1] != v + 1:
      parts.append(str(start) if start == v else "%d-%d" % (start, v))
      start = None
  return ", ".join(parts)


def check_label_values(histogram: np.ndarray, descriptor: DatasetDescriptor,
                       where: str):
  """DataError when any value is neither a class id nor the ignore label."""
  bad = [v for v in np.nonzero(histogram)[0] if not descriptor.valid_label(v)]
  if bad:
    raise DataError(
        "%s: label values %s are outside [0, %d) and not the ignore label %d"
        " of %s" % (where, format_values(bad), descriptor.num_classes,
                    descriptor.ignore_label, descriptor.name))


def encode_pair(image_path: str, label_path: str, filename: str,
                descriptor: DatasetDescriptor, mask_format: str = "auto",
                id_map: Optional[np.ndarray] = None) -> EncodedPair:
  """Reads, checks and encodes one image/mask pair."""
  image_bytes, fmt, height, width = read_image(image_path)
  ids = read_mask(label_path, descriptor, mask_format, id_map)
  if ids.shape != (height, width):
    hint = ""
    if ids.shape == (width, height):
      with Image.open(image_path) as image:
        orientation = exif_orientation(image)
      if orientation in _TRANSPOSING:
        hint = ("; the image has EXIF orientation %d (viewers show it "
                "rotated, as %dx%d) and the label seems drawn on the "
                "displayed image, but decoders (TensorFlow's included) use "
                "the stored pixels: save the image with its rotation applied"
                " (PIL ImageOps.exif_transpose) or rotate the label back"
                % (orientation, width, height))
    raise DataError("image %s is %dx%d but label %s is %dx%d (HxW)%s"
                    % (image_path, height, width, label_path, ids.shape[0],
                       ids.shape[1], hint))
  histogram = np.bincount(ids.ravel(), minlength=256)
  check_label_values(histogram, descriptor, "label file %s" % label_path)
  return EncodedPair(image_bytes, fmt, filename, height, width,
                     encode_label_png(ids), histogram)
