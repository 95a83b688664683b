"""Default settings: the paper's, and the embedded synthetic-data run.

`python train.py` with no flags trains a small MobileNetV2 DeepLabv3+ on the
synthetic dataset (written on first use to `runs/synthetic_data`) for a few
CPU minutes into `runs/default`; `python eval.py` with no flags evaluates it.
Any other dataset starts from the paper's settings (Xception-65, output
stride 16, rates 6/12/18, decoder at stride 4, crop 513, poly 0.007 / 0.9,
momentum 0.9, weight decay 4e-5, scales 0.5-2.0).
"""

import dataclasses
import logging
import os

from deeplab_tf.config import ModelOptions
from deeplab_tf.data import input_pipeline
from deeplab_tf.data.data_config import PAPER_CROP_SIZE, Augmentation
from deeplab_tf.training.config import TrainConfig

DEFAULT_TRAIN_LOGDIR = os.path.join("runs", "default")
SYNTHETIC_DATA_DIR = os.path.join("runs", "synthetic_data")
SYNTHETIC_SIZES = {"num_train": 96, "num_val": 24, "image_size": (128, 128)}



def _field_defaults(cls) -> dict:
  return {f.name: f.default for f in dataclasses.fields(cls)
          if f.default is not dataclasses.MISSING}


# Flag values when neither the user nor a saved config gives one: the
# paper's, which are the defaults of the sections themselves (ModelOptions,
# DataConfig's crop and Augmentation, TrainConfig: written there once, read
# here).
_MODEL, _TRAIN = _field_defaults(ModelOptions), _field_defaults(TrainConfig)
_AUGMENTATION = _field_defaults(Augmentation)
PAPER = {
    "model_variant": _MODEL["model_variant"],
    "output_stride": _MODEL["output_stride"],
    "decoder_output_stride": _MODEL["decoder_output_stride"],
    "depth_multiplier": _MODEL["depth_multiplier"],
    "train_crop_size": PAPER_CROP_SIZE,
    "min_scale_factor": _AUGMENTATION["min_scale_factor"],
    "max_scale_factor": _AUGMENTATION["max_scale_factor"],
    **{name: _TRAIN[name] for name in (
        "train_batch_size", "base_learning_rate", "training_number_of_steps",
        "weight_decay", "fine_tune_batch_norm", "save_interval_secs",
        "save_summaries_secs", "log_steps")},
}

# The embedded default run: a few minutes on two CPU cores.
SYNTHETIC = dict(PAPER, **{
    "model_variant": "mobilenet_v2", "depth_multiplier": 0.5,
    "train_crop_size": (129, 129), "train_batch_size": 8,
    "base_learning_rate": 0.05, "training_number_of_steps": 600,
    "min_scale_factor": 0.75, "max_scale_factor": 1.25,
    "save_interval_secs": 60.0, "save_summaries_secs": 30.0, "log_steps": 25,
    "batch_norm_decay": 0.99,
    # Seeded, so `python train.py && python eval.py` gives the README's
    # figure on a CPU (initialisation, data order and augmentation fixed).
    "seed": 0,
})


def defaults_for(dataset: str) -> dict:
  return SYNTHETIC if dataset == "synthetic" else PAPER


def has_split(dataset_dir: str, split: str) -> bool:
  try:
    input_pipeline.list_split_files(dataset_dir, split)
    return True
  except Exception:  # pylint: disable=broad-except
    return False


def is_embedded_run(data) -> bool:
  """True for the embedded default: the synthetic data (a DataConfig) in
  its own place."""
  return (data.name == "synthetic"
          and os.path.normpath(data.dataset_dir) == SYNTHETIC_DATA_DIR)


def ensure_synthetic_dataset(dataset_dir: str, seed: int = 0) -> str:
  """Writes the synthetic dataset to `dataset_dir` unless already there."""
  if has_split(dataset_dir, "train") and has_split(dataset_dir, "val"):
    return dataset_dir
  from deeplab_tf.data.synthetic import write_synthetic_dataset
  logging.info("writing the synthetic dataset to %s (%d train, %d val "
               "images)", dataset_dir, SYNTHETIC_SIZES["num_train"],
               SYNTHETIC_SIZES["num_val"])
  write_synthetic_dataset(dataset_dir, seed=seed, **SYNTHETIC_SIZES)
  return dataset_dir
