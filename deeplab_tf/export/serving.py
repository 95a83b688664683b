"""The serving module: a tf.Module whose signatures are the exported API.

Pre- and post-processing live inside the graph and are exactly the
evaluation path of `deeplab_tf.inference` (pad bottom/right to the crop with
the mean pixel, the model's own normalisation, corner-aligned upsampling,
optional multi-scale / flip, argmax, crop back), so a served prediction is
the evaluation prediction. Two signatures (pattern of deeplab2's
`export_model.py` and Model Garden's `serving/export_base.py`):

* `serving_default`: uint8 `images` [batch, height, width, 3] of any batch and
  size -> `semantic_predictions` int32 [batch, height, width] and
  `semantic_probabilities` float32 [batch, height, width, classes].
* `serving_bytes`: encoded JPEG / PNG / BMP / GIF `image_bytes` [batch] (what
  TF Serving's REST API receives as `{"b64": ...}`), images of different sizes
  in one request allowed. Each image is decoded (grayscale -> RGB, alpha
  dropped) and predicted on its own, so a result never depends on the other
  images of the request; outputs are padded to the largest image
  (`semantic_predictions` with -1, `semantic_probabilities` with 0) and
  `height` / `width` int32 [batch] give each image's own size.
* `serving_sliding` (only when exported with a sliding window): uint8
  `images` [batch, height, width, 3] of any size -> `semantic_predictions`
  int32 [batch, height, width] by sliding-window inference
  (`deeplab_tf.sliding_window`), so large images run in memory bounded by
  the window, not the image.

Bad requests get an InvalidArgument error saying what is wrong, naming the
request item where one item is at fault (`serving_inputs`).
"""

from typing import Optional, Sequence, Tuple

import tensorflow as tf

from deeplab_tf import inference
from deeplab_tf import padding
from deeplab_tf import sliding_window as sliding_lib
from deeplab_tf.export.serving_inputs import (DEFAULT_MAX_IMAGE_PIXELS,
                                              MAX_IMAGE_PIXELS_LIMIT,
                                              check_batch_of_strings,
                                              check_images,
                                              check_max_image_pixels,
                                              checked_header_size,
                                              decode_image)

SERVING_DEFAULT = "serving_default"
SERVING_BYTES = "serving_bytes"
SERVING_SLIDING = "serving_sliding"
LABEL_PADDING = -1


def _check_image_size(images):
  """Asserts a non-empty spatial size; a clear error instead of a crash."""
  shape = tf.shape(images)
  return tf.debugging.assert_positive(
      shape[1:3], message="images must have height and width >= 1")


class _Untracked:
  """A plain holder: tf.Module does not track what is inside it."""

  def __init__(self, value):
    self.value = value


class DeepLabServingModule(tf.Module):
  """Wraps a native-stride Keras model with in-graph pre/post-processing.

  Example:
    module = DeepLabServingModule(build_model(opts, upsample_logits=False),
                                  crop_size=(513, 513),
                                  mean_pixel=opts.mean_pixel,
                                  num_classes=opts.num_classes)
    tf.saved_model.save(module, path, signatures=module.signatures())

  Args:
    native_model: a model built with `upsample_logits=False` (float RGB in
      [0, 255] -> logits at the network's output stride).
    crop_size: [height, width] inputs are padded to (at least), as in
      evaluation.
    mean_pixel: the padding value (ModelOptions.mean_pixel).
    num_classes: number of classes (for static output shapes).
    scales: inference scales (multi-scale inference); (1.0,) for one.
    add_flipped_images: also average over left-right flipped inputs.
    max_image_pixels: the largest height x width accepted per image; larger
      ones are refused (for encoded images before decoding).
    sliding_window: a `sliding_window.SlidingWindow`; adds the
      `serving_sliding` signature.
  """

  def __init__(self, native_model, *, crop_size: Tuple[int, int],
               mean_pixel: Sequence[float], num_classes: int,
               scales: Sequence[float] = (1.0,),
               add_flipped_images: bool = False,
               max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
               sliding_window: Optional[sliding_lib.SlidingWindow] = None,
               name=None):
    super().__init__(name=name)
    self.max_image_pixels = check_max_image_pixels(max_image_pixels)
    # Only the underlying tf.Variables are tracked, not the Keras model:
    # tracking the model makes the SavedModel's TF1-style restore op (used
    # by TF Serving, `saved_model_cli run`, the C++/Java loaders) miss the
    # Keras 3 variables ("Could not find variable", keras-team/keras#19274,
    # #20095), and tracking both stores every weight twice.
    self._untracked = _Untracked(native_model)
    self.model_variables = [v.value for v in native_model.variables]
    self.crop_size = (int(crop_size[0]), int(crop_size[1]))
    self.mean_pixel = padding.mean_pixel_value(mean_pixel)
    self.num_classes = int(num_classes)
    self.scales = tuple(float(s) for s in scales)
    self.add_flipped_images = bool(add_flipped_images)
    # Inputs of any rank: the checks inside the graph then run for every
    # client (a C++ session, as in TF Serving, does not check a fed tensor
    # against the signature's shape) and answer a wrong shape clearly.
    self.serve_images = tf.function(
        self._serve_images, input_signature=[
            tf.TensorSpec(None, tf.uint8, name="images")])
    self.serve_bytes = tf.function(
        self._serve_bytes, input_signature=[
            tf.TensorSpec(None, tf.string, name="image_bytes")])
    self.sliding_window = sliding_window
    if sliding_window is not None:
      self.serve_sliding = tf.function(
          self._serve_sliding, input_signature=[
              tf.TensorSpec([None, None, None, 3], tf.uint8, name="images")])

  @property
  def model(self):
    """The wrapped native-stride Keras model (not saved as an object)."""
    return self._untracked.value

  def signatures(self):
    """The {name: concrete function} dict for `tf.saved_model.save`."""
    signatures = {
        SERVING_DEFAULT: self.serve_images.get_concrete_function(),
        SERVING_BYTES: self.serve_bytes.get_concrete_function()}
    if self.sliding_window is not None:
      signatures[SERVING_SLIDING] = self.serve_sliding.get_concrete_function()
    return signatures

  # ------------------------------------------------------------ the graph
  def predict(self, images):
    """(labels int32 [B, H, W], probabilities float32 [B, H, W, C]).

    `images`: uint8 or float [B, H, W, 3] RGB in [0, 255], any size. Equal
    to `inference.predict_labels` (argmax commutes with the crop).
    """
    with tf.control_dependencies([_check_image_size(images)]):
      images = tf.cast(images, tf.float32)
    shape = tf.shape(images)
    padded = padding.pad_to_crop(images, self.crop_size, self.mean_pixel)
    probabilities = inference.predict_probabilities(
        self.model, padded, scales=self.scales,
        add_flipped_images=self.add_flipped_images)
    probabilities = probabilities[:, :shape[1], :shape[2], :]
    probabilities = tf.ensure_shape(probabilities,
                                    [None, None, None, self.num_classes])
    labels = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
    return labels, probabilities

  def _serve_images(self, images):
    images = check_images(images, self.max_image_pixels)
    labels, probabilities = self.predict(images)
    return {"semantic_predictions": labels,
            "semantic_probabilities": probabilities}

  def _serve_sliding(self, images):
    # The same request checks; no pixel limit: memory is bounded by the
    # window here, and large images are what this signature is for.
    images = tf.cast(check_images(images, MAX_IMAGE_PIXELS_LIMIT), tf.float32)
    labels = sliding_lib.predict_sliding(
        self.model, images, window=self.sliding_window,
        mean_pixel=self.mean_pixel, num_classes=self.num_classes,
        scales=self.scales, add_flipped_images=self.add_flipped_images)
    return {"semantic_predictions": labels}

  def _serve_bytes(self, image_bytes):
    image_bytes = check_batch_of_strings(image_bytes)
    index = tf.range(tf.size(image_bytes))
    # Header sizes, every item checked before any is decoded.
    sizes = tf.map_fn(
        lambda item: checked_header_size(item[1], item[0],
                                         self.max_image_pixels),
        (index, image_bytes), fn_output_signature=tf.TensorSpec([2], tf.int32))
    # Nothing is decoded before every header passed its checks.
    with tf.control_dependencies([sizes]):
      image_bytes = tf.identity(image_bytes)
    # Zero when the batch is empty: the outputs are then empty, not an error.
    max_h = tf.reduce_max(tf.concat([sizes[:, 0], [0]], 0))
    max_w = tf.reduce_max(tf.concat([sizes[:, 1], [0]], 0))

    def one(item):
      i, encoded, size = item
      image = decode_image(encoded)
      same = tf.debugging.Assert(
          tf.reduce_all(tf.equal(tf.shape(image)[:2], size)),
          [tf.strings.format(
              "image_bytes[{}]: decodes to {} pixels but its header says "
              "{}; corrupt image", (i, tf.shape(image)[:2], size))])
      with tf.control_dependencies([same]):
        labels, probabilities = self.predict(image[tf.newaxis])
      pad_h = max_h - size[0]
      pad_w = max_w - size[1]
      labels = tf.pad(labels[0], [[0, pad_h], [0, pad_w]],
                      constant_values=LABEL_PADDING)
      probabilities = tf.pad(probabilities[0],
                             [[0, pad_h], [0, pad_w], [0, 0]])
      return labels, probabilities

    def run_all():
      return tf.map_fn(one, (index, image_bytes, sizes), fn_output_signature=(
          tf.TensorSpec([None, None], tf.int32),
          tf.TensorSpec([None, None, self.num_classes], tf.float32)))

    def empty():  # map_fn cannot stack zero results of unknown shape
      return (tf.zeros([0, 0, 0], tf.int32),
              tf.zeros([0, 0, 0, self.num_classes], tf.float32))

    labels, probabilities = tf.cond(tf.size(image_bytes) > 0, run_all, empty)
    return {"semantic_predictions": labels,
            "semantic_probabilities": probabilities,
            "height": sizes[:, 0], "width": sizes[:, 1]}
