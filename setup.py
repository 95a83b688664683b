"""deeplab_tf: the paper's DeepLabv3+ in TensorFlow 2 / Keras 3.

TensorFlow is chosen through an extra so that each machine gets the right
build:  pip install -e ".[cpu]"  (tensorflow-cpu)  or  pip install -e ".[gpu]"
(tensorflow[and-cuda]). Only the library package `deeplab_tf` is installed;
the repository's top-level `datasets/` folder holds command-line builders run
from the checkout (`python -m datasets.build_voc2012_data ...`) and is never
installed, so it cannot shadow the unrelated PyPI package named `datasets`.
"""

from setuptools import find_packages, setup

TF_VERSION = "2.21.*"

setup(
    name="deeplab_tf",
    version="0.1.0",
    description="DeepLabv3+ (ECCV 2018) in TensorFlow 2 / Keras 3, "
                "compatible with the authors' TF1 checkpoints",
    packages=find_packages(include=["deeplab_tf", "deeplab_tf.*"]),
    python_requires=">=3.10",
    install_requires=[
        "keras>=3.10",
        "numpy>=1.26",
        "absl-py>=2.0",
        "pillow>=10.0",
        # TensorFlow Datasets in and out (`--dataset=tfds:...`,
        # datasets.export_tfds); imported lazily. 4.9.10 uses
        # importlib_resources without declaring it.
        "tensorflow-datasets>=4.9.10",
        "importlib_resources",
        "simplejpeg>=1.7",  # strict JPEG checks in the dataset builders
    ],
    extras_require={
        "cpu": ["tensorflow-cpu==" + TF_VERSION],
        "gpu": ["tensorflow[and-cuda]==" + TF_VERSION],
        "tflite": ["ai-edge-litert>=2.0"],
        "onnx": ["tf2onnx>=1.17", "onnxruntime>=1.20"],
        # The suite checks every export format, ONNX included.
        "test": ["pytest>=8", "ai-edge-litert>=2.0", "tf2onnx>=1.17",
                 "onnxruntime>=1.20"],
    },
)
