"""TensorBoard summaries through core `tf.summary.write`.

The tensorboard package is needed only to view them, not to write them.
Training (`training/summaries.py`) and evaluation (`evaluation/evaluator.py`)
both write through here.
"""

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import summary_pb2

from deeplab_tf.evaluation.label_colors import encode_png


def _metadata(plugin: str) -> bytes:
  meta = summary_pb2.SummaryMetadata()
  meta.plugin_data.plugin_name = plugin
  return meta.SerializeToString()


def write_scalar(name: str, value: float, step: int):
  """A TensorBoard scalar."""
  tf.summary.write(name, tf.constant(float(value), tf.float32), step=step,
                   metadata=_metadata("scalars"))


def write_images(name: str, images: np.ndarray, step: int):
  """uint8 [N, H, W, 3] as a TensorBoard image summary (PNG-encoded)."""
  images = np.asarray(images, np.uint8)
  if not len(images):
    return
  height, width = images.shape[1:3]
  tensor = [str(width).encode(), str(height).encode()] + [
      encode_png(image) for image in images]
  tf.summary.write(name, tf.constant(tensor), step=step,
                   metadata=_metadata("images"))
