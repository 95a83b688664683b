"""TrainConfig: everything a training run needs, frozen and validated.

Field names are the authors' TF1 flags (research/deeplab/train.py) so their
command lines carry over. `train.py` turns flags into one TrainConfig; the
library never reads flags.
"""

import dataclasses
from typing import Optional, Tuple

from deeplab_tf.config import ModelOptions
from deeplab_tf.errors import ConfigError

LEARNING_POLICIES = ("poly", "step", "cosine")
STRATEGIES = ("one_device", "mirrored", "multi_worker", "tpu")
MIXED_PRECISION = ("none", "float16", "bfloat16", "auto")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  """A training run.

  Attributes:
    model: the model; `model.crop_size` is the training crop.
    dataset: dataset name or label-map path (descriptor source).
    dataset_dir: directory of `{split}-*.tfrecord` files.
    num_classes, ignore_label: from the dataset descriptor (model.num_classes
      must equal num_classes).
    class_names, colormap: from the descriptor (summaries, eval reports).
    train_split, train_batch_size: split and *global* batch size.
    base_learning_rate, learning_policy, learning_power, end_learning_rate,
    learning_rate_decay_step, learning_rate_decay_factor,
    training_number_of_steps, slow_start_step, slow_start_learning_rate,
    slow_start_burnin_type: the learning-rate schedule (see schedules.py).
    momentum, weight_decay: momentum SGD and L2 on conv kernels.
    fine_tune_batch_norm: train BN statistics (large batches); False freezes
      them (inference statistics, no updates).
    batch_norm_decay: moving-average decay of every BN layer during this
      run, or None for the reference's per-component values (0.997 in
      MobileNetV2, 0.9997 in Xception and the head). Short runs from scratch
      need a faster average (e.g. 0.99), or the moving statistics used at
      evaluation are still mostly their initial values.
    min_scale_factor, max_scale_factor, scale_factor_step_size,
    min_resize_value, max_resize_value: data augmentation.
    upsample_logits: upsample logits to the labels (else labels are
      downsampled with nearest neighbour).
    top_k_percent_pixels, hard_example_mining_step: hard-pixel mining.
    label_weights: per-class loss weights, or None for 1.
    tf_initial_checkpoint, initialize_last_layer,
    last_layers_contain_logits_only: initialisation.
    train_logdir: checkpoints, config JSON and summaries.
    save_interval_secs, save_summaries_secs, log_steps, max_to_keep:
      checkpoint / summary / console cadence.
    strategy, tpu: tf.distribute set-up.
    mixed_precision: 'none', 'float16', 'bfloat16' or 'auto' (float16 on
      GPUs, bfloat16 elsewhere).
    seed: data-pipeline and initialisation seed (None: random).
    tfds_data_dir, tfds_download, tfds_image_key, tfds_label_key, label_map:
      a `tfds:<name>` dataset's TFDS data directory, download permission,
      feature keys and class description (see data/tfds_source.py).
  """
  model: ModelOptions
  dataset: str = "synthetic"
  dataset_dir: str = ""
  ignore_label: int = 255
  class_names: Tuple[str, ...] = ()
  colormap: Tuple[Tuple[int, int, int], ...] = ()
  train_split: str = "train"
  train_batch_size: int = 8
  base_learning_rate: float = 0.007
  learning_policy: str = "poly"
  learning_power: float = 0.9
  end_learning_rate: float = 0.0
  learning_rate_decay_step: int = 2000
  learning_rate_decay_factor: float = 0.1
  training_number_of_steps: int = 30000
  slow_start_step: int = 0
  slow_start_learning_rate: float = 1e-4
  slow_start_burnin_type: str = "none"
  momentum: float = 0.9
  weight_decay: float = 4e-5
  fine_tune_batch_norm: bool = True
  batch_norm_decay: Optional[float] = None
  min_scale_factor: float = 0.5
  max_scale_factor: float = 2.0
  scale_factor_step_size: float = 0.25
  min_resize_value: Optional[int] = None
  max_resize_value: Optional[int] = None
  upsample_logits: bool = True
  top_k_percent_pixels: float = 1.0
  hard_example_mining_step: int = 0
  label_weights: Optional[Tuple[float, ...]] = None
  tf_initial_checkpoint: Optional[str] = None
  initialize_last_layer: bool = True
  last_layers_contain_logits_only: bool = False
  train_logdir: str = "runs/default"
  save_interval_secs: float = 600.0
  save_summaries_secs: float = 60.0
  log_steps: int = 10
  max_to_keep: int = 5
  strategy: str = "one_device"
  tpu: Optional[str] = None
  mixed_precision: str = "none"
  seed: Optional[int] = None
  tfds_data_dir: Optional[str] = None
  tfds_download: bool = False
  tfds_image_key: Optional[str] = None
  tfds_label_key: Optional[str] = None
  label_map: Optional[str] = None

  def __post_init__(self):
    if self.label_weights is not None:
      object.__setattr__(self, "label_weights",
                         tuple(float(w) for w in self.label_weights) or None)
    object.__setattr__(self, "class_names", tuple(self.class_names))
    object.__setattr__(self, "colormap",
                       tuple(tuple(int(v) for v in c) for c in self.colormap))
    self.validate()

  @property
  def num_classes(self) -> int:
    return self.model.num_classes

  @property
  def crop_size(self) -> Tuple[int, int]:
    return self.model.crop_size

  def validate(self):
    """Raises ConfigError (a ValueError) naming the flag that is wrong."""
    def check(ok, message):
      if not ok:
        raise ConfigError(message)
    check(self.learning_policy in LEARNING_POLICIES,
          "--learning_policy=%r: choose one of %s"
          % (self.learning_policy, ", ".join(LEARNING_POLICIES)))
    check(self.slow_start_burnin_type in ("none", "linear"),
          "--slow_start_burnin_type=%r: choose none or linear"
          % self.slow_start_burnin_type)
    check(self.strategy in STRATEGIES, "--strategy=%r: choose one of %s"
          % (self.strategy, ", ".join(STRATEGIES)))
    check(self.mixed_precision in MIXED_PRECISION,
          "--mixed_precision=%r: choose one of %s"
          % (self.mixed_precision, ", ".join(MIXED_PRECISION)))
    check(min(self.crop_size) >= self.model.output_stride,
          "--train_crop_size=%d,%d is smaller than --output_stride=%d: the "
          "network would see less than one feature pixel; use a larger crop "
          "(the paper uses 513,513)" % (self.crop_size
                                       + (self.model.output_stride,)))
    check(self.train_batch_size >= 1,
          "--train_batch_size=%d must be >= 1" % self.train_batch_size)
    check(self.training_number_of_steps >= 1,
          "--training_number_of_steps=%d must be >= 1"
          % self.training_number_of_steps)
    check(self.base_learning_rate > 0,
          "--base_learning_rate=%g must be > 0" % self.base_learning_rate)
    check(0 < self.top_k_percent_pixels <= 1,
          "--top_k_percent_pixels=%g must be in (0, 1]"
          % self.top_k_percent_pixels)
    check(self.hard_example_mining_step >= 0,
          "--hard_example_mining_step must be >= 0")
    check(0 < self.min_scale_factor <= self.max_scale_factor,
          "--min_scale_factor=%g / --max_scale_factor=%g: need 0 < min <= max"
          % (self.min_scale_factor, self.max_scale_factor))
    check(self.batch_norm_decay is None or 0 <= self.batch_norm_decay < 1,
          "--batch_norm_decay=%r must be in [0, 1)" % (self.batch_norm_decay,))
    check(self.weight_decay >= 0, "--weight_decay must be >= 0")
    check(self.log_steps >= 1, "--log_steps must be >= 1")
    check(0 <= self.ignore_label <= 255,
          "ignore_label=%d must be in [0, 255]" % self.ignore_label)
    if self.label_weights is not None:
      check(len(self.label_weights) == self.num_classes,
            "--label_weights has %d values but the dataset has %d classes"
            % (len(self.label_weights), self.num_classes))
      check(min(self.label_weights) >= 0, "--label_weights must be >= 0")
    if self.class_names:
      check(len(self.class_names) == self.num_classes,
            "%d class names for --num_classes=%d"
            % (len(self.class_names), self.num_classes))
    if self.learning_policy == "step":
      check(self.learning_rate_decay_step >= 1,
            "--learning_rate_decay_step must be >= 1")
    check(self.slow_start_step < self.training_number_of_steps
          or self.slow_start_step == 0,
          "--slow_start_step=%d must be below --training_number_of_steps=%d"
          % (self.slow_start_step, self.training_number_of_steps))
    if self.strategy == "tpu":
      check(self.mixed_precision != "float16",
            "--mixed_precision=float16 is not supported on TPUs; use bfloat16")

  @property
  def data_source(self):
    """The TFRecord directory, or a TfdsSource for `tfds:` datasets."""
    from deeplab_tf.data import tfds_source  # pylint: disable=g-import-not-at-top
    if tfds_source.is_tfds(self.dataset):
      return tfds_source.TfdsSource.from_values(self.dataset, self.to_dict())
    return self.dataset_dir

  def to_dict(self) -> dict:
    """JSON-ready: the model as its own dict, tuples as lists."""
    d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
    d["model"] = self.model.to_dict()
    for k, v in d.items():
      if isinstance(v, tuple):
        d[k] = [list(x) if isinstance(x, tuple) else x for x in v]
    return d

  def replace(self, **changes) -> "TrainConfig":
    return dataclasses.replace(self, **changes)
