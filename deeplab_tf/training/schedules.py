"""Learning-rate schedules of the reference (`train_utils.get_model_learning_rate`).

poly:   (base - end) * (1 - s / N) ** power + end   (the paper: base 0.007,
        power 0.9)
step:   base * factor ** floor(s / decay_step)
cosine: base * 0.5 * (1 + cos(pi * s / (N - slow_start_step)))
where s = max(step - slow_start_step, 0). Before `slow_start_step` the rate
is `slow_start_learning_rate` (or, with burn-in 'linear', a ramp from it up to
`base_learning_rate`).
"""

import math

import keras
import tensorflow as tf

from deeplab_tf.training.config import LEARNING_POLICIES


@keras.saving.register_keras_serializable(package="deeplab_tf")
class DeepLabLearningRate(keras.optimizers.schedules.LearningRateSchedule):
  """The reference learning-rate policy as a Keras schedule."""

  def __init__(self, base_learning_rate: float, learning_policy: str = "poly",
               training_number_of_steps: int = 30000,
               learning_power: float = 0.9, end_learning_rate: float = 0.0,
               learning_rate_decay_step: int = 2000,
               learning_rate_decay_factor: float = 0.1,
               slow_start_step: int = 0,
               slow_start_learning_rate: float = 1e-4,
               slow_start_burnin_type: str = "none"):
    if learning_policy not in LEARNING_POLICIES:
      raise ValueError("learning_policy=%r: choose one of %s"
                       % (learning_policy, ", ".join(LEARNING_POLICIES)))
    self.base_learning_rate = float(base_learning_rate)
    self.learning_policy = learning_policy
    self.training_number_of_steps = int(training_number_of_steps)
    self.learning_power = float(learning_power)
    self.end_learning_rate = float(end_learning_rate)
    self.learning_rate_decay_step = int(learning_rate_decay_step)
    self.learning_rate_decay_factor = float(learning_rate_decay_factor)
    self.slow_start_step = int(slow_start_step)
    self.slow_start_learning_rate = float(slow_start_learning_rate)
    self.slow_start_burnin_type = slow_start_burnin_type

  def __call__(self, step):
    step = tf.cast(step, tf.float32)
    adjusted = tf.maximum(step - self.slow_start_step, 0.0)
    base = self.base_learning_rate
    if self.learning_policy == "poly":
      total = float(max(self.training_number_of_steps, 1))
      frac = tf.minimum(adjusted, total) / total
      rate = ((base - self.end_learning_rate)
              * tf.pow(1.0 - frac, self.learning_power)
              + self.end_learning_rate)
    elif self.learning_policy == "step":
      rate = base * tf.pow(self.learning_rate_decay_factor, tf.floor(
          adjusted / float(self.learning_rate_decay_step)))
    else:
      total = float(max(self.training_number_of_steps - self.slow_start_step,
                        1))
      frac = tf.minimum(adjusted, total) / total
      rate = base * 0.5 * (1.0 + tf.cos(math.pi * frac))
    slow = tf.constant(self.slow_start_learning_rate, tf.float32)
    if self.slow_start_burnin_type == "linear" and self.slow_start_step > 0:
      slow = slow + (base - slow) * step / float(self.slow_start_step)
    return tf.where(step < float(self.slow_start_step), slow, rate)

  def get_config(self):
    return {"base_learning_rate": self.base_learning_rate,
            "learning_policy": self.learning_policy,
            "training_number_of_steps": self.training_number_of_steps,
            "learning_power": self.learning_power,
            "end_learning_rate": self.end_learning_rate,
            "learning_rate_decay_step": self.learning_rate_decay_step,
            "learning_rate_decay_factor": self.learning_rate_decay_factor,
            "slow_start_step": self.slow_start_step,
            "slow_start_learning_rate": self.slow_start_learning_rate,
            "slow_start_burnin_type": self.slow_start_burnin_type}


def from_config(config) -> DeepLabLearningRate:
  """The schedule of a TrainConfig."""
  return DeepLabLearningRate(
      config.base_learning_rate, config.learning_policy,
      config.training_number_of_steps, config.learning_power,
      config.end_learning_rate, config.learning_rate_decay_step,
      config.learning_rate_decay_factor, config.slow_start_step,
      config.slow_start_learning_rate, config.slow_start_burnin_type)
