"""One training step under a tf.distribute strategy: the model, the
optimizer, the step counter and the compiled, replica-summed step.

Every replica normalises the loss by the *global* number of valid pixels,
so one step gives the same loss and update under every strategy for the
same global batch.
"""

from typing import Callable

import keras
import tensorflow as tf

from deeplab_tf.evaluation.metrics import confusion_matrix
from deeplab_tf.model import build_model
from deeplab_tf.training import losses, schedules
from deeplab_tf.run_config import RunConfig
from deeplab_tf.training.strategy import mixed_precision

SUM = tf.distribute.ReduceOp.SUM


class Trainer:
  """Model, optimizer, step counter and the compiled training step.

  Build it inside nothing: it enters `strategy.scope()` itself.
  """

  def __init__(self, run: RunConfig, strategy: tf.distribute.Strategy):
    self.run = run
    self.config = config = run.train
    self.strategy = strategy
    self.num_replicas = strategy.num_replicas_in_sync
    self.sync_batch_norm = self.num_replicas > 1
    with strategy.scope():
      # The run's own precision (not the caller's global Keras policy).
      with mixed_precision(config.mixed_precision,
                           config.strategy) as self.policy:
        self.model = build_model(run.model, upsample_logits=False,
                                 sync_batch_norm=self.sync_batch_norm)
      self.step = tf.Variable(
          0, dtype=tf.int64, trainable=False, name="global_step",
          aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
      self.schedule = schedules.from_config(config)
      optimizer = keras.optimizers.SGD(
          learning_rate=lambda: self.schedule(self.step),
          momentum=config.momentum)
      if self.policy == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
      self.optimizer = optimizer
      self.variables = self._trained_variables()
      self.optimizer.build(self.variables)
    self.kernels = losses.decayed_kernels(self.model)
    self.checkpoint = tf.train.Checkpoint(model=self.model,
                                          optimizer=self.optimizer,
                                          step=self.step)
    self._step_fn = None

  def _trained_variables(self):
    """Trainable weights; with frozen BN (`fine_tune_batch_norm=False`) the
    BN layers run on their moving statistics (Keras does that for
    non-trainable BN) while gamma and beta still train, as in the
    reference (is_training=False for BN only)."""
    extra = []
    for layer in self.model.layers:
      if not isinstance(layer, keras.layers.BatchNormalization):
        continue
      if self.config.batch_norm_decay is not None:
        layer.momentum = self.config.batch_norm_decay
      if not self.config.fine_tune_batch_norm:
        layer.trainable = False
        extra += [layer.gamma, layer.beta]
    return list(self.model.trainable_variables) + extra

  # ----------------------------------------------------------- the step
  def _replica_step(self, batch):
    config, data = self.config, self.run.data
    images, labels = batch["image"], tf.cast(batch["label"], tf.int32)
    context = tf.distribute.get_replica_context()
    with tf.GradientTape() as tape:
      tape.watch([getattr(v, "value", v) for v in self.variables])
      logits = self.model(images, training=True)
      total, count = losses.segmentation_loss_sum(
          logits, labels, num_classes=data.num_classes,
          ignore_label=data.ignore_label,
          upsample_logits=config.upsample_logits,
          label_weights=config.label_weights,
          top_k_percent_pixels=config.top_k_percent_pixels,
          hard_example_mining_step=config.hard_example_mining_step,
          step=self.step)
      global_count = context.all_reduce(SUM, count)
      data_loss = tf.math.divide_no_nan(total, global_count)
      decay = losses.weight_decay_loss(self.kernels, config.weight_decay)
      loss = data_loss + decay / float(self.num_replicas)
      scaled = loss
      if isinstance(self.optimizer, keras.optimizers.LossScaleOptimizer):
        scaled = self.optimizer.scale_loss(loss)
    grads = tape.gradient(scaled, self.variables)
    self.optimizer.apply_gradients(zip(grads, self.variables))
    full_logits = losses.match_logits_and_labels(logits, labels, True)[0]
    predictions = tf.argmax(full_logits, axis=-1, output_type=tf.int32)
    confusion = confusion_matrix(labels, predictions, data.num_classes,
                                 data.ignore_label)
    return {"loss": loss, "data_loss": data_loss, "confusion": confusion,
            "predictions": predictions, "images": images, "labels": labels}

  def train_step(self, distributed_batch):
    """One step on a distributed batch; returns reduced scalars and the
    per-replica images/labels/predictions."""
    if self._step_fn is None:
      @tf.function(autograph=False)  # no tensor-dependent Python control flow
      def step_fn(batch):
        out = self.strategy.run(self._replica_step, args=(batch,))
        self.step.assign_add(1)
        reduced = {k: self.strategy.reduce(SUM, out[k], axis=None)
                   for k in ("loss", "data_loss", "confusion")}
        reduced["learning_rate"] = self.schedule(self.step - 1)
        for k in ("predictions", "images", "labels"):
          reduced[k] = self.strategy.experimental_local_results(out[k])[0]
        return reduced
      self._step_fn = step_fn
    return self._step_fn(distributed_batch)

  def distribute(self, dataset_fn: Callable):
    """Distributed dataset from `dataset_fn(input_context)`.

    Batches are prefetched onto the devices only when they are GPUs/TPUs:
    on CPUs that copy buys nothing, and tearing its iterator down at the
    end of training blocked for 17-60 s (measured, TF 2.21, 2 cores).
    """
    devices = self.strategy.extended.worker_devices
    on_accelerator = any(tf.DeviceSpec.from_string(d).device_type != "CPU"
                         for d in devices)
    options = tf.distribute.InputOptions(
        experimental_fetch_to_device=on_accelerator)
    return self.strategy.distribute_datasets_from_function(dataset_fn,
                                                           options)
