"""TFLite conversion: static shapes, builtin ops only, four variants.

What the reference's TFLite path got wrong, and what is done here instead:
  * dynamic shapes (refused by the GPU delegate) -> a static input
    [1, crop_h, crop_w, 3]; the caller pads to it with the mean pixel, as
    evaluation does (`pad_to_crop`);
  * in-graph JPEG decoding / resizing that TFLite could not convert -> the
    graph starts at the RGB tensor (float32 or uint8, values 0..255); the
    model's own normalisation (x * 2/255 - 1) is inside;
  * int64 argmax rejected by mobile runtimes -> int32 ARG_MAX;
  * Flex (select TF) ops -> `supported_ops` is builtins only, so conversion
    fails loudly instead of producing a model that needs the Flex delegate,
    and `builtin_op_check` verifies the result.

The input size is the deployment's (`choose_input_size`: --tflite_input_size,
else the crop); `tflite_runner.TFLiteSegmenter` runs frames of any size
through it (pad with the mean pixel, resize or tile).

Outputs (TFLite signature `serving_default`): `semantic_predictions` int32
[1, crop_h, crop_w] (corner-aligned upsampling + argmax inside) and/or
`logits` float32 [1, h, w, classes] at the network's output stride (for
runtimes that prefer doing the argmax themselves, e.g. GPU delegates).
"""

import dataclasses
from typing import Callable, Dict, Iterable, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf
from tensorflow.python.framework import convert_to_constants  # pylint: disable=g-direct-tensorflow-import

from deeplab_tf.errors import ConfigError
from deeplab_tf.export import tflite_runner
from deeplab_tf.layers import resize_align_corners

VARIANTS = ("float32", "float16", "dynamic_int8", "int8")
OUTPUTS = ("labels", "logits", "both")
INPUT_NAME = "images"


@dataclasses.dataclass(frozen=True)
class TFLiteSpec:
  """One TFLite model to convert.

  Attributes:
    variant: 'float32', 'float16' (fp16 weights), 'dynamic_int8' (int8
      weights, float activations) or 'int8' (full integer, needs a
      representative dataset).
    input_size: static [height, width] of the input (the crop size).
    input_dtype: 'float32' or 'uint8' RGB in 0..255.
    outputs: 'labels', 'logits' or 'both'.
  """
  variant: str = "float32"
  input_size: Tuple[int, int] = (513, 513)
  input_dtype: str = "float32"
  outputs: str = "both"

  def __post_init__(self):
    if self.variant not in VARIANTS:
      raise ConfigError("tflite variant %r: choose one of %s"
                        % (self.variant, ", ".join(VARIANTS)))
    if self.input_dtype not in ("float32", "uint8"):
      raise ConfigError("tflite input_dtype %r must be 'float32' or 'uint8'"
                        % self.input_dtype)
    if self.outputs not in OUTPUTS:
      raise ConfigError("tflite outputs %r: choose one of %s"
                        % (self.outputs, ", ".join(OUTPUTS)))
    size = tuple(int(v) for v in self.input_size)
    if len(size) != 2 or min(size) < 1:
      raise ConfigError("tflite input_size %r must be [height, width]"
                        % (self.input_size,))
    object.__setattr__(self, "input_size", size)

  @property
  def filename(self) -> str:
    return "deeplab_%s_%dx%d.tflite" % ((self.variant,) + self.input_size)


def tflite_function(native_model, spec: TFLiteSpec):
  """The concrete function converted: static input, outputs per `spec`."""
  # A full-int8 model gets a float graph input; the converter turns it into
  # uint8 (scale 1, zero point 0 for 0..255) via inference_input_type.
  graph_dtype = (tf.uint8 if spec.input_dtype == "uint8"
                 and spec.variant != "int8" else tf.float32)
  height, width = spec.input_size

  @tf.function(input_signature=[tf.TensorSpec(
      [1, height, width, 3], graph_dtype, name=INPUT_NAME)])
  def serve(images):
    logits = native_model(tf.cast(images, tf.float32), training=False)
    logits = tf.cast(logits, tf.float32)
    outputs = {}
    if spec.outputs in ("labels", "both"):
      upsampled = resize_align_corners(logits, [height, width])
      outputs["semantic_predictions"] = tf.argmax(
          upsampled, axis=-1, output_type=tf.int32)
    if spec.outputs in ("logits", "both"):
      outputs["logits"] = logits
    return outputs

  return serve.get_concrete_function()


def _frozen(function):
  """`function` with its variables turned into constants, outputs named.

  Given the Keras model as trackable object the converter keeps the weights
  as resource variables (READ_VARIABLE ops, no weight quantisation, and int8
  calibration fails on them), so freeze first; freezing flattens the output
  dict, so a wrapper restores the names the TFLite signature shows.
  """
  frozen = convert_to_constants.convert_variables_to_constants_v2(function)
  structure = function.structured_outputs

  @tf.function(input_signature=function.structured_input_signature[0])
  def named(images):
    return tf.nest.pack_sequence_as(structure, tf.nest.flatten(
        frozen(images)))

  return named.get_concrete_function()


def convert(native_model, spec: TFLiteSpec, representative_images:
            Optional[Callable[[], Iterable[np.ndarray]]] = None) -> bytes:
  """Converts `native_model` to a TFLite flatbuffer.

  Args:
    native_model: a model built with `upsample_logits=False`.
    spec: what to convert.
    representative_images: for 'int8', a callable returning an iterable of
      float32 [1, H, W, 3] images (0..255, padded like evaluation) used to
      calibrate activation ranges.
  Returns:
    The model bytes. Raises ValueError if an op would need Flex.
  """
  converter = tf.lite.TFLiteConverter.from_concrete_functions(
      [_frozen(tflite_function(native_model, spec))], tf.Module())
  converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
  if spec.variant == "float16":
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_types = [tf.float16]
  elif spec.variant == "dynamic_int8":
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
  elif spec.variant == "int8":
    if representative_images is None:
      raise ConfigError("the int8 TFLite variant needs a representative "
                        "dataset (pass --representative_split of a TFRecord "
                        "dataset)")
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_ops = [
        tf.lite.OpsSet.TFLITE_BUILTINS_INT8]

    def dataset():
      for image in representative_images():
        yield [np.asarray(image, np.float32)]

    converter.representative_dataset = dataset
    if spec.input_dtype == "uint8":
      converter.inference_input_type = tf.uint8
  try:
    model = converter.convert()
  except Exception as e:  # pylint: disable=broad-except
    raise ValueError("TFLite conversion (%s) failed: %s"
                     % (spec.variant, e)) from e
  builtin_op_check(model)
  return model


def make_interpreter(model: bytes, num_threads: int = 2,
                     default_delegates: bool = True):
  """An ai-edge-litert interpreter (tf.lite.Interpreter is deprecated).

  With `default_delegates=False` XNNPACK is not applied, so
  `_get_ops_details` lists the model's own ops instead of 'DELEGATE'.
  """
  return tflite_runner.make_interpreter(model, num_threads, default_delegates)


def choose_input_size(requested: Optional[Sequence[int]],
                      crop_size: Sequence[int]) -> Tuple[Tuple[int, int], str]:
  """(static TFLite input [height, width], why that size) for export."""
  if requested:
    try:
      size = tuple(int(v) for v in requested)
    except (TypeError, ValueError):
      size = ()
    if len(size) == 1:
      size = size * 2
    if len(size) != 2 or min(size) < 1:
      raise ConfigError("--tflite_input_size=%s must be 'height,width'"
                        % ",".join(str(v) for v in requested))
    return size, "--tflite_input_size"
  size = tuple(int(v) for v in crop_size)
  return size, ("the crop size (the run's training crop unless --crop_size); "
                "larger frames are tiled or resized by TFLiteSegmenter, or "
                "pass --tflite_input_size=H,W for your frame size")


def op_names(model: bytes):
  """Sorted set of the op names in a TFLite model."""
  interpreter = make_interpreter(model, num_threads=1,
                                 default_delegates=False)
  return sorted({op["op_name"] for op in interpreter._get_ops_details()})  # pylint: disable=protected-access


def builtin_op_check(model: bytes):
  """Raises ValueError naming any Flex / custom op of `model`."""
  bad = [name for name in op_names(model)
         if name.startswith("Flex") or name in ("CUSTOM", "DELEGATE")]
  if bad:
    raise ValueError("TFLite model needs non-builtin ops: %s" % bad)


class TFLiteRunner:
  """Runs a converted model; accepts float RGB 0..255 of the input size."""

  def __init__(self, model: bytes, num_threads: int = 2):
    self.interpreter = make_interpreter(model, num_threads)
    self.runner = self.interpreter.get_signature_runner()
    details = self.runner.get_input_details()[INPUT_NAME]
    self.input_dtype = details["dtype"]
    self.input_shape = tuple(details["shape"])

  def __call__(self, images) -> Dict[str, np.ndarray]:
    images = np.asarray(images)
    if images.shape != self.input_shape:
      raise ValueError("TFLite input must have shape %s, got %s (pad to the "
                       "crop size with the mean pixel first)"
                       % (self.input_shape, images.shape))
    if self.input_dtype == np.uint8:
      images = np.clip(np.round(images), 0, 255).astype(np.uint8)
    else:
      images = images.astype(self.input_dtype)
    return self.runner(**{INPUT_NAME: images})
