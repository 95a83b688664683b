"""TrainConfig: the train section of a run (schedule, optimiser, loss,
initialisation, output cadence, distribution), frozen and validated.

Field names are the authors' TF1 flags (research/deeplab/train.py) so their
command lines carry over. The model and the data are the other sections of
the same `RunConfig` (deeplab_tf/run_config.py); `train.py` turns flags into
one RunConfig and the library never reads flags. The field defaults are
the paper's (training/defaults.py reads them).
"""

import dataclasses
from typing import Any, Dict, Optional, Tuple

from deeplab_tf.errors import ConfigError

LEARNING_POLICIES = ("poly", "step", "cosine")
STRATEGIES = ("one_device", "mirrored", "multi_worker", "tpu")
MIXED_PRECISION = ("none", "float16", "bfloat16", "auto")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  """How a run trains.

  Attributes:
    train_batch_size: the *global* batch size.
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
  """
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

  def __post_init__(self):
    if self.label_weights is not None:
      object.__setattr__(self, "label_weights",
                         tuple(float(w) for w in self.label_weights) or None)
    self.validate()

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
    check(self.batch_norm_decay is None or 0 <= self.batch_norm_decay < 1,
          "--batch_norm_decay=%r must be in [0, 1)" % (self.batch_norm_decay,))
    check(self.weight_decay >= 0, "--weight_decay must be >= 0")
    check(self.log_steps >= 1, "--log_steps must be >= 1")
    if self.label_weights is not None:
      check(min(self.label_weights) >= 0, "--label_weights must be >= 0")
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

  def check_classes(self, num_classes: int):
    """The label weights must be one per class."""
    if self.label_weights is not None and len(
        self.label_weights) != num_classes:
      raise ConfigError(
          "--label_weights has %d values but the dataset has %d classes"
          % (len(self.label_weights), num_classes))

  def to_dict(self) -> Dict[str, Any]:
    """JSON-ready (tuples as lists)."""
    d = dataclasses.asdict(self)
    if d["label_weights"] is not None:
      d["label_weights"] = list(d["label_weights"])
    return d

  @classmethod
  def from_dict(cls, d: Dict[str, Any]) -> "TrainConfig":
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
      raise ConfigError("unknown train settings: %s" % ", ".join(unknown))
    return cls(**d)

  def replace(self, **changes) -> "TrainConfig":
    return dataclasses.replace(self, **changes)
