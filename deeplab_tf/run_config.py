"""RunConfig: the one configuration tree of a run, and deeplab_config.json.

    RunConfig
      model    ModelOptions   the architecture (deeplab_tf/config.py)
      data     DataConfig     dataset, directory, splits, crop, augmentation
      train    TrainConfig    how the weights were / are trained
      eval     EvalConfig     an evaluation of them (not stored)
      origin   dict           where weights not trained here came from (a TF1
                              checkpoint, a model-zoo entry)

train.py (and the TF1 converter and the model zoo) writes
`<train_logdir>/deeplab_config.json` next to the `tf.train.CheckpointManager`
checkpoints (`ckpt-<step>`), so eval.py and export.py need no model flags.
Format 2 stores each section once:

    {"format_version": 2, "model": {...}, "data": {...},
     "train": {...} or "origin": {...}}

Still read: format 1 (before 2026-11-30: the data under "dataset", the model,
classes and augmentation repeated inside "train"), and format 2 as first
written (the crop inside "model", the augmentation inside "train").

Checkpoints hold `tf.train.Checkpoint(model=..., optimizer=..., step=...)`;
the model's variables are the same objects at every output stride, so a
checkpoint trained at 16 restores into a model built at 8.
"""

import dataclasses
import json
import os
from typing import Any, Dict, Optional

import tensorflow as tf

from deeplab_tf.atomic_io import atomic_write_text
from deeplab_tf.checkpoint_files import (intact_checkpoint_prefix,
                                         is_tf1_checkpoint)
from deeplab_tf.config import ModelOptions
from deeplab_tf.data.data_config import Augmentation, DataConfig
from deeplab_tf.errors import ConfigError, UserError
from deeplab_tf.training.config import TrainConfig

CONFIG_FILENAME = "deeplab_config.json"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
# Settings older files kept in "train" that now live in "data" (or are
# implied by "data": the TFDS source, the descriptor).
_AUGMENTATION = tuple(f.name for f in dataclasses.fields(Augmentation))
_DATA_IN_OLD_TRAIN = ("model", "dataset", "dataset_dir", "ignore_label",
                      "class_names", "colormap", "train_split", "num_classes",
                      "tfds_data_dir", "tfds_download", "tfds_image_key",
                      "tfds_label_key", "label_map") + _AUGMENTATION


@dataclasses.dataclass(frozen=True)
class RunConfig:
  """A run: the model, its data and what is done with them (see module)."""
  model: ModelOptions
  data: DataConfig
  train: Optional[TrainConfig] = None
  eval: Optional[Any] = None  # evaluation.config.EvalConfig
  origin: Optional[Dict[str, Any]] = None

  def __post_init__(self):
    if self.model.num_classes != self.data.num_classes:
      raise ConfigError(
          "the model has %d classes but dataset %s has %d"
          % (self.model.num_classes, self.data.name, self.data.num_classes))
    if self.train is not None:
      self.model.check_crop(self.data.crop_size, "train_crop_size")
      self.train.check_classes(self.data.num_classes)
    if self.eval is not None:
      self.eval.check_model(self.model)

  def replace(self, **changes) -> "RunConfig":
    return dataclasses.replace(self, **changes)

  def with_train(self, **changes) -> "RunConfig":
    """The same run with train settings changed."""
    return self.replace(train=self.train.replace(**changes))

  def to_dict(self) -> Dict[str, Any]:
    """The stored document (the eval section is not stored)."""
    doc = {"format_version": FORMAT_VERSION, "model": self.model.to_dict(),
           "data": self.data.to_dict()}
    if self.train is not None:
      doc["train"] = self.train.to_dict()
    if self.origin:
      doc["origin"] = dict(self.origin)
    return doc

  @classmethod
  def from_dict(cls, doc: Dict[str, Any]) -> "RunConfig":
    """Reads format 2 and the older layouts (see the module doc)."""
    version = doc.get("format_version", 1)
    model = dict(doc["model"])
    data = dict(doc.get("dataset" if version == 1 else "data") or {})
    train = dict(doc.get("train") or {})
    origin = doc.get("origin")
    if "crop_size" in model:  # format 1 and first format 2: crop in model
      data.setdefault("crop_size", model.pop("crop_size"))
    data.setdefault("num_classes", model.get("num_classes"))
    if "training_number_of_steps" not in train:  # a converted checkpoint
      origin, train = origin or (train or None), {}
    if train:
      data.setdefault("augmentation", {k: train[k] for k in _AUGMENTATION
                                       if k in train})
      train = {k: v for k, v in train.items() if k not in _DATA_IN_OLD_TRAIN}
    return cls(model=ModelOptions.from_dict(model),
               data=DataConfig.from_dict(data),
               train=TrainConfig.from_dict(train) if train else None,
               origin=origin)


def save_run_config(logdir: str, run: RunConfig) -> str:
  """Writes `run` (format 2) beside the checkpoints; returns its path."""
  path = os.path.join(logdir, CONFIG_FILENAME)
  atomic_write_text(path, json.dumps(run.to_dict(), indent=2, sort_keys=True)
                    + "\n")
  return path


def config_path(checkpoint_dir: str) -> str:
  """`<run directory>/deeplab_config.json` of a directory or a prefix."""
  directory = checkpoint_dir
  if not os.path.isdir(directory):
    if not tf.io.gfile.exists(checkpoint_dir + ".index"):
      raise FileNotFoundError(
          "--checkpoint_dir=%s does not exist (neither a directory nor a "
          "checkpoint prefix with a .index file)" % checkpoint_dir)
    directory = os.path.dirname(checkpoint_dir)
  return os.path.join(directory, CONFIG_FILENAME)


def load_run_config(checkpoint_dir: str) -> RunConfig:
  """The RunConfig saved in a run directory (or beside a prefix in it)."""
  path = config_path(checkpoint_dir)
  if not os.path.exists(path):
    raise FileNotFoundError(
        "%s not found: %s has no configuration saved by train.py (pass the "
        "train_logdir, or give the model flags explicitly)"
        % (path, checkpoint_dir))
  with open(path) as f:
    try:
      doc = json.load(f)
    except json.JSONDecodeError as e:
      raise UserError("%s is not valid JSON: %s" % (path, e)) from None
  if not isinstance(doc, dict):
    raise UserError("%s is not a deeplab_tf run configuration (a JSON "
                    "object with 'model')" % path)
  version = doc.get("format_version", 1)
  if version not in READABLE_VERSIONS:
    raise UserError(
        "%s has format_version %r, but this deeplab_tf reads versions %s: "
        "it was written by a newer deeplab_tf; upgrade deeplab_tf to use it"
        % (path, version, ", ".join(map(str, READABLE_VERSIONS))))
  try:
    return RunConfig.from_dict(doc)
  except (KeyError, TypeError, ValueError) as e:
    raise UserError("%s: bad run configuration: %s" % (path, e)) from None


def restore_model(model, checkpoint: str) -> str:
  """Restores the model weights of a checkpoint; returns what was read.

  A train.py run directory gives its newest intact checkpoint (optimizer
  slots and the step are ignored; a model weight the checkpoint lacks is an
  error). An authors' TF1 checkpoint is loaded in memory by its variable
  names (tf1_checkpoint.py), every weight required.
  """
  if _is_tf1(checkpoint):
    from deeplab_tf.tf1_checkpoint import load_tf1_checkpoint  # pylint: disable=g-import-not-at-top
    return load_tf1_checkpoint(model, checkpoint).checkpoint
  prefix = intact_checkpoint_prefix(checkpoint)
  try:
    status = tf.train.Checkpoint(model=model).restore(prefix)
  except tf.errors.NotFoundError:
    raise FileNotFoundError("checkpoint %s vanished while it was restored"
                            % prefix) from None
  status.expect_partial()
  status.assert_existing_objects_matched()
  return prefix


def _is_tf1(checkpoint: str) -> bool:
  """A TF1 checkpoint (prefix or directory; a run directory never is)."""
  if os.path.isfile(os.path.join(checkpoint, CONFIG_FILENAME)):
    return False
  try:
    return is_tf1_checkpoint(checkpoint)
  except (OSError, ValueError, tf.errors.OpError):
    return False
