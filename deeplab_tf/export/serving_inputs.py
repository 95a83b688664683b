"""The serving signatures' request checks and image decoding.

Bad requests get an InvalidArgument error saying what is wrong, naming the
request item (`image_bytes[i]`) where one item is at fault: a wrong rank,
channel count, an empty batch of `images`, an empty string, an unknown
format, and an image larger than `max_image_pixels` (height x width). The
size of an encoded image is read from its header (JPEG SOF, PNG IHDR, GIF
screen, BMP info header, WebP VP8/VP8L/VP8X) before anything is decoded, so
a small file declaring a huge image is refused without allocating it.
"""

import tensorflow as tf

# Height x width of the largest image accepted: a 4096 x 4096 image (4K
# frames, 3840 x 2160, and 12-megapixel photos fit).
DEFAULT_MAX_IMAGE_PIXELS = 4096 * 4096
MAX_IMAGE_PIXELS_LIMIT = 2 ** 31 - 1
FORMATS = "JPEG, PNG, GIF, BMP or WebP"


def check_max_image_pixels(value) -> int:
  value = int(value)
  if not 1 <= value <= MAX_IMAGE_PIXELS_LIMIT:
    raise ValueError("max_image_pixels %d: must be in [1, %d]"
                     % (value, MAX_IMAGE_PIXELS_LIMIT))
  return value


def _first_failure(checks):
  """An Assert for [(ok, message)]: fails with the first failing message."""
  ok = tf.reduce_all(tf.stack([c for c, _ in checks]))
  message = checks[-1][1]
  for condition, text in reversed(checks[:-1]):
    message = tf.where(condition, message, text)
  return tf.debugging.Assert(ok, [message])


def _limit_message(item: str, inputs, height, width, max_pixels: int):
  """`item` is a tf.strings.format template of the item, given `inputs`."""
  return tf.strings.format(
      "%s: {}x{} = {} pixels exceeds the limit of %d pixels (height x "
      "width) per image this model was exported with (export.py "
      "--max_image_pixels); send a smaller image" % (item, max_pixels),
      list(inputs) + [height, width, height * width])


def check_images(images, max_image_pixels: int):
  """`images` as uint8 [B, H, W, 3] after in-graph shape checks."""
  shape = tf.shape(images, out_type=tf.int64)
  rank_ok = tf.debugging.Assert(tf.equal(tf.size(shape), 4), [
      tf.strings.format("images: expected uint8 [batch, height, width, 3], "
                        "got shape {}", shape, summarize=-1)])
  with tf.control_dependencies([rank_ok]):
    shape = tf.identity(shape)
    height, width = shape[1], shape[2]
    check = _first_failure([
        (shape[0] >= 1, tf.strings.format(
            "images: empty batch (shape {}); send at least one image",
            shape, summarize=-1)),
        (tf.equal(shape[3], 3), tf.strings.format(
            "images: {} channels (shape {}); expected 3 (RGB): drop an alpha "
            "channel, repeat a gray one", (shape[3], shape), summarize=-1)),
        ((height >= 1) & (width >= 1), tf.strings.format(
            "images must have height and width >= 1, got shape {}", shape,
            summarize=-1)),
        (height * width <= max_image_pixels,
         _limit_message("images", [], height, width, max_image_pixels)),
    ])
  with tf.control_dependencies([check]):
    images = tf.identity(images)
  return tf.ensure_shape(images, [None, None, None, 3])


def check_batch_of_strings(image_bytes):
  """`image_bytes` as a [batch] vector after an in-graph rank check."""
  shape = tf.shape(image_bytes)
  check = tf.debugging.Assert(tf.equal(tf.size(shape), 1), [
      tf.strings.format(
          "image_bytes: expected a [batch] vector of encoded images, got "
          "shape {} (send a list, also for one image)", shape, summarize=-1)])
  with tf.control_dependencies([check]):
    image_bytes = tf.identity(image_bytes)
  return tf.ensure_shape(image_bytes, [None])


def _unsigned(head, position: int, length: int, big_endian: bool):
  """The unsigned integer of `length` bytes at `position` of `head`."""
  field = tf.strings.substr(head, position, length)
  pad = b"\0" * (8 - length)
  raw = tf.strings.join([pad, field] if big_endian else [field, pad])
  return tf.io.decode_raw(raw, tf.int64, little_endian=not big_endian)[0]


def _head(encoded):
  """The first 32 bytes, zero-padded to 64: any field below 32 reads."""
  return tf.strings.join([tf.strings.substr(encoded, 0, 32), b"\0" * 32])


def _starts(head, position: int, magic: bytes):
  return tf.equal(tf.strings.substr(head, position, len(magic)), magic)


def _is_webp(head):
  return _starts(head, 0, b"RIFF") & _starts(head, 8, b"WEBP")


def header_size(encoded):
  """(known format, [height, width] int64) from the image header alone.

  Nothing is decoded (`tf.image.extract_jpeg_shape` reads the JPEG header);
  the format is detected by the magic bytes `tf.io.decode_image` uses. A
  header too short to hold the size gives a size of zero.
  """
  head = _head(encoded)

  def starts(position, magic):
    return _starts(head, position, magic)

  def u(position, length, big_endian=False):
    return _unsigned(head, position, length, big_endian)

  def signed32(value):  # a little-endian int32 field read unsigned
    return tf.where(value >= 2 ** 31, value - 2 ** 32, value)

  is_jpeg = starts(0, b"\xff\xd8\xff")
  is_png = starts(0, b"\x89PNG\r\n\x1a\n")
  is_gif = starts(0, b"GIF8")
  is_bmp = starts(0, b"BM")
  is_webp = _is_webp(head)
  vp8l = u(21, 4)
  webp = tf.where(
      starts(12, b"VP8X"), tf.stack([u(27, 3) + 1, u(24, 3) + 1]),
      tf.where(starts(12, b"VP8L"),
               tf.stack([(vp8l // 2 ** 14) % 2 ** 14 + 1, vp8l % 2 ** 14 + 1]),
               tf.where(starts(12, b"VP8 "),
                        tf.stack([u(28, 2) % 2 ** 14, u(26, 2) % 2 ** 14]),
                        tf.zeros([2], tf.int64))))
  jpeg = tf.cond(
      is_jpeg,
      lambda: tf.cast(tf.image.extract_jpeg_shape(encoded)[:2], tf.int64),
      lambda: tf.zeros([2], tf.int64))
  size = tf.zeros([2], tf.int64)
  for is_format, format_size in (
      (is_webp, webp),
      (is_bmp, tf.stack([tf.abs(signed32(u(22, 4))), signed32(u(18, 4))])),
      (is_gif, tf.stack([u(8, 2), u(6, 2)])),
      (is_png, tf.stack([u(20, 4, True), u(16, 4, True)])),
      (is_jpeg, jpeg)):
    size = tf.where(is_format, format_size, size)
  known = is_jpeg | is_png | is_gif | is_bmp | is_webp
  return known, size


def checked_header_size(encoded, index, max_image_pixels: int):
  """[height, width] int32 of item `index`; InvalidArgument naming it."""
  known, size = header_size(encoded)
  height, width = size[0], size[1]
  check = _first_failure([
      (tf.strings.length(encoded) > 0, tf.strings.format(
          "image_bytes[{}]: empty string, expected an encoded image",
          [index])),
      (known, tf.strings.format(
          "image_bytes[{}]: unknown image format ({} bytes); send %s"
          % FORMATS, [index, tf.strings.length(encoded)])),
      ((height >= 1) & (width >= 1), tf.strings.format(
          "image_bytes[{}]: no valid size in the image header ({}x{}); "
          "truncated or corrupt image", [index, height, width])),
      (height * width <= max_image_pixels, _limit_message(
          "image_bytes[{}]", [index], height, width, max_image_pixels)),
  ])
  with tf.control_dependencies([check]):
    return tf.cast(size, tf.int32)


def decode_image(encoded):
  """Decodes one JPEG / PNG / BMP / GIF / WebP string to uint8 RGB [H, W, 3].

  Grayscale becomes RGB and an alpha channel is dropped (TF's WebP decoder
  refuses `channels=3` for a WebP with alpha, so WebP is decoded as it is
  and sliced); an empty string or bytes in no known format raise
  InvalidArgumentError with a message saying so (returned to the client by
  TF Serving, never a crash).
  """
  check = tf.debugging.assert_greater(
      tf.strings.length(encoded), 0,
      message="image_bytes: empty string, expected an encoded JPEG/PNG image")
  is_webp = _is_webp(_head(encoded))
  with tf.control_dependencies([check]):
    image = tf.cond(
        is_webp,
        lambda: tf.io.decode_image(encoded, channels=0, dtype=tf.uint8,
                                   expand_animations=False)[..., :3],
        lambda: tf.io.decode_image(encoded, channels=3, dtype=tf.uint8,
                                   expand_animations=False))
  return tf.ensure_shape(image, [None, None, 3])
