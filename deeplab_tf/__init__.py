"""deeplab_tf: DeepLabv3+ (Chen et al., ECCV 2018) in TensorFlow 2 / Keras 3."""

from deeplab_tf.config import ModelOptions, paper_atrous_rates
from deeplab_tf.model import build_model, transfer_weights

__all__ = ["ModelOptions", "build_model", "paper_atrous_rates",
           "transfer_weights", "load_tf1_checkpoint"]


def load_tf1_checkpoint(*args, **kwargs):
  """See `deeplab_tf.tf1_checkpoint.load_tf1_checkpoint`."""
  from deeplab_tf.tf1_checkpoint import load_tf1_checkpoint as _load  # pylint: disable=g-import-not-at-top
  return _load(*args, **kwargs)
