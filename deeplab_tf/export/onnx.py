"""ONNX export of the serving graph (tf2onnx) and an ONNX Runtime runner.

The converted function is the SavedModel's own `predict` (padding with the
mean pixel, normalisation, multi-scale / flip as exported, corner-aligned
upsampling, argmax, crop back) plus the native-stride logits of the padded
image at scale 1:

  input   images                uint8 [batch, height, width, 3]
  output  semantic_predictions  int32 [batch, height, width]
          logits                float32 [batch, h, w, classes] (network stride)

Batch, height and width are dynamic (tf2onnx keeps the dynamic shapes of
the pad / resize ops). tf2onnx and onnxruntime are the `.[onnx]` extra,
imported only here and only when ONNX is asked for.
"""

from typing import Dict, List

import numpy as np
import tensorflow as tf

from deeplab_tf import padding

DEFAULT_OPSET = 17
INPUT_NAME = "images"
OUTPUTS = ("semantic_predictions", "logits")
MISSING = ("ONNX export needs the tf2onnx and onnxruntime packages: "
           "pip install -e '.[onnx]'")


def _require(module: str):
  try:
    return __import__(module)
  except ImportError as e:
    raise ValueError("%s (%s)" % (MISSING, e)) from None


def check_available():
  """Raises ValueError (what to install) unless tf2onnx and onnxruntime
  import."""
  for module in ("tf2onnx", "onnxruntime"):
    _require(module)


def filename(model_variant: str) -> str:
  return "deeplab_%s.onnx" % model_variant


def onnx_function(module):
  """The tf.function converted: `module` is a DeepLabServingModule."""

  @tf.function(input_signature=[
      tf.TensorSpec([None, None, None, 3], tf.uint8, name=INPUT_NAME)])
  def serve(images):
    labels, _ = module.predict(images)
    padded = padding.pad_to_crop(tf.cast(images, tf.float32),
                                   module.crop_size, module.mean_pixel)
    logits = tf.cast(module.model(padded, training=False), tf.float32)
    return {"semantic_predictions": labels, "logits": logits}

  return serve


def convert(module, opset: int = DEFAULT_OPSET) -> bytes:
  """Serialized ONNX model of `module`'s serving graph."""
  tf2onnx = _require("tf2onnx")
  function = onnx_function(module)
  try:
    proto, _ = tf2onnx.convert.from_function(
        function, input_signature=function.input_signature, opset=opset)
  except Exception as e:  # pylint: disable=broad-except
    raise ValueError("ONNX conversion (opset %d) failed: %s" % (opset, e)) \
        from e
  return proto.SerializeToString()


def describe(model: bytes) -> Dict:
  """Opset and input / output shapes ('?' = dynamic) of an ONNX model."""
  onnx = _require("onnx")
  proto = onnx.load_from_string(model)

  def shapes(values) -> Dict[str, List]:
    return {v.name: [d.dim_value if d.HasField("dim_value") else "?"
                     for d in v.type.tensor_type.shape.dim] for v in values}

  return {"opset": max(o.version for o in proto.opset_import
                       if o.domain in ("", "ai.onnx")),
          "inputs": shapes(proto.graph.input),
          "outputs": shapes(proto.graph.output)}


class OnnxRunner:
  """ONNX Runtime (CPU) session; call with uint8 [B, H, W, 3] images."""

  def __init__(self, model: bytes, num_threads: int = 2):
    ort = _require("onnxruntime")
    options = ort.SessionOptions()
    options.intra_op_num_threads = num_threads
    options.inter_op_num_threads = 1
    self.session = ort.InferenceSession(
        model, options, providers=["CPUExecutionProvider"])

  def __call__(self, images) -> Dict[str, np.ndarray]:
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
      raise ValueError("ONNX input must be uint8 [batch, height, width, 3], "
                       "got %s %s" % (images.dtype, images.shape))
    values = self.session.run(list(OUTPUTS), {INPUT_NAME: images})
    return dict(zip(OUTPUTS, values))
