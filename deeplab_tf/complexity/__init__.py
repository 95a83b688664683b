"""Parameters and Multiply-Adds of a DeepLab model (see counting.py).

`counting.py` counts them from the built Keras model, `paper.py` recomputes
the paper's Tables 3 and 5, `cli.py` is `python -m deeplab_tf.complexity`.
The counting names are importable from here (`from deeplab_tf.complexity
import count`); they load on first use, so that the command line can quiet
TensorFlow before it is imported.
"""

import importlib


def __getattr__(name):
  counting = importlib.import_module("deeplab_tf.complexity.counting")
  try:
    return getattr(counting, name)
  except AttributeError:
    raise AttributeError("module 'deeplab_tf.complexity' has no attribute %r"
                         % name) from None
