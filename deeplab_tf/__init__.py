"""deeplab_tf: DeepLabv3+ (Chen et al., ECCV 2018) in TensorFlow 2 / Keras 3."""

from deeplab_tf.config import ModelOptions, paper_atrous_rates

__all__ = ["ModelOptions", "build_model", "paper_atrous_rates",
           "transfer_weights", "load_tf1_checkpoint"]


def __getattr__(name):
  # Keras/TensorFlow load on first use, so `import deeplab_tf.cli` (every
  # command line's first import) sets TF's log level before TF starts.
  if name in ("build_model", "transfer_weights"):
    from deeplab_tf import model  # pylint: disable=g-import-not-at-top
    return getattr(model, name)
  raise AttributeError("module 'deeplab_tf' has no attribute %r" % name)


def load_tf1_checkpoint(*args, **kwargs):
  """See `deeplab_tf.tf1_checkpoint.load_tf1_checkpoint`."""
  from deeplab_tf.tf1_checkpoint import load_tf1_checkpoint as _load  # pylint: disable=g-import-not-at-top
  return _load(*args, **kwargs)
