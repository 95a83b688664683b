"""Datasets: descriptors, the reference TFRecord schema, builders' library
code, validation, the tf.data input pipeline and a synthetic dataset.

The command-line builders live in the repository's top-level `datasets/`
folder (never installed); everything they call is here.
"""

from deeplab_tf.data.builtin import BUILTIN_DESCRIPTORS
from deeplab_tf.data.descriptor import DatasetDescriptor
from deeplab_tf.data.errors import DataError
from deeplab_tf.data.label_map import load_label_map, write_label_map
from deeplab_tf.data.registry import LABEL_MAP_FILENAME, get_dataset_descriptor

__all__ = ["BUILTIN_DESCRIPTORS", "DataError", "DatasetDescriptor",
           "LABEL_MAP_FILENAME", "get_dataset_descriptor", "load_label_map",
           "write_label_map"]
