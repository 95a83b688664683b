"""The custom distributed training loop (`strategy.run` over a distributed
dataset), checkpointing and automatic resume.

Keras 3 `model.fit` fails under MultiWorkerMirroredStrategy on TF 2.21, a
custom loop does not; it also lets every replica normalise the loss by the
*global* number of valid pixels, so one step gives the same loss and update
under every strategy for the same global batch.
"""

import dataclasses
import logging
import math
import os
import shutil
import time
from typing import Callable, Optional

import keras
import tensorflow as tf

from deeplab_tf.checkpoint_files import (newest_intact_checkpoint,
                                         remove_stale_temporaries)
from deeplab_tf.data.input_pipeline import build_train_dataset
from deeplab_tf.data.shard_check import record_read_error
from deeplab_tf.errors import UserError
from deeplab_tf.run_config import RunConfig, load_run_config, save_run_config
from deeplab_tf.training import checkpoints, defaults
from deeplab_tf.training.logdir_lock import LogdirLock
from deeplab_tf.training.strategy import is_chief, make_strategy
from deeplab_tf.training.summaries import Progress, TrainSummaries
from deeplab_tf.training.trainer import Trainer

CHECKPOINT_NAME = "ckpt"


class NonFiniteLossError(UserError, RuntimeError):
  """The loss became NaN or Inf; training stopped without saving (a
  UserError: the message says what to change)."""


@dataclasses.dataclass
class TrainResult:
  step: int
  loss: float
  checkpoint: Optional[str]
  steps_per_sec: float
  images_per_sec: float
  elapsed_secs: float
  resumed_from: Optional[str]
  already_complete: bool = False  # nothing to do: step >= the step count


def default_dataset_fn(run: RunConfig):
  """`input_context -> dataset` of the training split (global batch)."""
  data = run.data
  def dataset_fn(input_context):
    return build_train_dataset(
        data.source, data.train_split, crop_size=data.crop_size,
        batch_size=run.train.train_batch_size, ignore_label=data.ignore_label,
        mean_pixel=run.model.mean_pixel, seed=run.train.seed,
        input_context=input_context, **dataclasses.asdict(data.augmentation))
  return dataset_fn


def check_saved_config(run: RunConfig):
  """Resuming with another model is an error naming the differing fields
  (the data may change between runs: it is not weights)."""
  logdir = run.train.train_logdir
  try:
    saved = load_run_config(logdir).model
  except FileNotFoundError:
    return
  if saved != run.model:
    a, b = saved.to_dict(), run.model.to_dict()
    diff = ["%s: saved %r, flags %r" % (k, a[k], b[k]) for k in a
            if a[k] != b[k]]
    raise UserError(
        "--train_logdir=%s holds checkpoints of another model (%s); use a "
        "new --train_logdir or the same model flags"
        % (logdir, "; ".join(diff)))


def _worker_dir(logdir: str, strategy) -> str:
  if is_chief(strategy):
    return logdir
  task_id = strategy.cluster_resolver.task_id
  return os.path.join(logdir, ".worker_tmp", "worker_%d" % task_id)


def _agree_any(strategy, flag: bool) -> bool:
  """True if any worker's flag is True (keeps time-based saves in step)."""
  if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
    return flag
  value = tf.constant(1.0 if flag else 0.0)
  out = strategy.run(lambda v: tf.distribute.get_replica_context().all_reduce(
      tf.distribute.ReduceOp.MAX, v), args=(value,))
  return bool(strategy.experimental_local_results(out)[0].numpy() > 0)


def train(run: RunConfig, *, strategy=None,
          dataset_fn: Optional[Callable] = None) -> TrainResult:
  """Trains `run` to `run.train.training_number_of_steps`, resuming if
  possible.

  Args:
    run: the run (model, data and train sections).
    strategy: an existing strategy (default: made from run.train.strategy).
    dataset_fn: `input_context -> tf.data.Dataset` of per-replica batches
      (default: the input pipeline of run.data).
  Raises:
    NonFiniteLossError: the loss became NaN/Inf (the last good checkpoint
      stays the latest one).
    LogdirLockedError: another training holds the logdir.
    CorruptCheckpointError: no checkpoint of the logdir reads.
    DataError: a shard of the split is truncated or corrupt (named).
    OSError: the logdir cannot be written (read-only, full, a file).
  """
  config = run.train
  if config.seed is not None:
    keras.utils.set_random_seed(config.seed)
  strategy = strategy or make_strategy(config.strategy, config.tpu)
  chief = is_chief(strategy)
  prepare_logdir(config.train_logdir)
  if dataset_fn is None and chief and defaults.is_embedded_run(run.data):
    # Only the embedded default writes data, and only to its own location.
    defaults.ensure_synthetic_dataset(run.data.dataset_dir,
                                      seed=config.seed or 0)
  lock = LogdirLock(config.train_logdir).acquire() if chief else None
  try:
    if chief:
      remove_stale_temporaries(config.train_logdir)
    return _train(run, strategy, chief, dataset_fn)
  finally:
    if lock is not None:
      lock.release()


def prepare_logdir(logdir: str):
  """Creates the logdir; OSError with one clear line when it cannot be."""
  if os.path.exists(logdir) and not os.path.isdir(logdir):
    raise NotADirectoryError(
        "--train_logdir=%s is a file, not a directory; pass a directory"
        % logdir)
  os.makedirs(logdir, exist_ok=True)


def _train(run: RunConfig, strategy, chief, dataset_fn) -> TrainResult:
  config = run.train
  check_saved_config(run)
  trainer, manager, directory, resumed_from = _set_up(run, strategy, chief)
  step = int(trainer.step.numpy())
  if step >= config.training_number_of_steps:
    return _already_complete(config, manager, chief, step, resumed_from)
  logging.info("strategy %s: %d replica(s), global batch %d, synchronised "
               "BN %s, fine_tune_batch_norm %s", type(strategy).__name__,
               trainer.num_replicas, config.train_batch_size,
               trainer.sync_batch_norm, config.fine_tune_batch_norm)
  dataset = trainer.distribute(dataset_fn or default_dataset_fn(run))
  summaries = TrainSummaries(config.train_logdir if chief else None,
                             run.data.colormap, run.data.class_names,
                             run.data.num_classes)
  start_step, start_time = step, time.time()
  progress = Progress(step, config.training_number_of_steps,
                      config.train_batch_size)
  last_save = last_summary = time.time()
  loss = float("nan")
  saved = resumed_from  # not manager.latest_checkpoint: it may be corrupt
  iterator = iter(dataset)
  while step < config.training_number_of_steps:
    out = trainer.train_step(_next_batch(iterator, run.data, summaries))
    step += 1
    loss = _finite_loss(out, step, saved, summaries)
    summaries.accumulate(out["confusion"].numpy())
    now = time.time()
    if step % config.log_steps == 0 or step == config.training_number_of_steps:
      _log_step(config, chief, step, out, progress, summaries)
    if now - last_summary >= config.save_summaries_secs:
      summaries.write_images(step, out["images"], out["labels"],
                             out["predictions"])
      last_summary = now
    due = now - last_save >= config.save_interval_secs
    if _agree_any(strategy, due) and step < config.training_number_of_steps:
      saved = _save(manager, step, chief, directory)
      last_save = time.time()
  if int(trainer.step.numpy()) != step:
    raise RuntimeError("step counter out of sync")
  if saved is None or not saved.endswith("-%d" % step):
    saved = _save(manager, step, chief, directory)
  summaries.flush()
  elapsed = time.time() - start_time
  sps = (step - start_step) / elapsed if elapsed > 0 else 0.0
  if not chief:
    shutil.rmtree(os.path.join(config.train_logdir, ".worker_tmp"),
                  ignore_errors=True)
  return TrainResult(step, loss, saved if chief else None, sps,
                     sps * config.train_batch_size, elapsed, resumed_from)


def _set_up(run: RunConfig, strategy, chief: bool):
  """(trainer, checkpoint manager, its directory, resumed prefix): the
  model resumed or initialised, and the run configuration saved."""
  config = run.train
  latest = _resume_checkpoint(config)
  trainer = Trainer(run, strategy)
  directory = _worker_dir(config.train_logdir, strategy)
  manager = tf.train.CheckpointManager(
      trainer.checkpoint, directory, max_to_keep=config.max_to_keep,
      checkpoint_name=CHECKPOINT_NAME)
  resumed_from = _restore_or_initialize(run, trainer, latest)
  if chief:
    save_run_config(config.train_logdir, run)
  return trainer, manager, directory, resumed_from


def _already_complete(config, manager, chief: bool, step: int,
                      resumed_from: Optional[str]) -> TrainResult:
  latest = manager.latest_checkpoint if chief else None
  logging.info("training is already complete at step %d (%s; "
               "--training_number_of_steps=%d): nothing to do. Raise "
               "--training_number_of_steps to train on, or use a new "
               "--train_logdir", step, latest or config.train_logdir,
               config.training_number_of_steps)
  return TrainResult(step, float("nan"), latest, 0.0, 0.0, 0.0,
                     resumed_from, already_complete=True)


def _next_batch(iterator, data, summaries):
  """The next batch; a corrupt shard is a DataError naming the file."""
  try:
    return next(iterator)
  except tf.errors.DataLossError as e:
    summaries.flush()
    raise record_read_error(data.dataset_dir, data.train_split, e) from None


def _finite_loss(out, step: int, saved: Optional[str], summaries) -> float:
  """The step's total loss; NonFiniteLossError (nothing saved) if NaN/Inf."""
  loss = float(out["loss"])
  if not math.isfinite(loss):
    summaries.flush()
    raise NonFiniteLossError(
        "loss is %s at step %d (data loss %s, learning rate %.3g): training "
        "stopped without saving; the last good checkpoint is %s. Lower "
        "--base_learning_rate, check the labels (values must be < "
        "num_classes or the ignore label) or use --mixed_precision=none."
        % (loss, step, float(out["data_loss"]),
           float(out["learning_rate"]), saved))
  return loss


def _log_step(config, chief: bool, step: int, out, progress,
              summaries):
  """Scalar summaries and (on the chief) one console line."""
  speed = progress.update(step)
  accuracy, miou = summaries.write_scalars(
      step, float(out["data_loss"]), float(out["loss"]),
      float(out["learning_rate"]), progress.steps_per_sec,
      progress.steps_per_sec * config.train_batch_size)
  if chief:
    logging.info("step %d/%d  loss %.4f (total %.4f)  lr %.3g  pixel acc "
                 "%.3f  train mIoU %.3f  %s", step,
                 config.training_number_of_steps, float(out["data_loss"]),
                 float(out["loss"]), float(out["learning_rate"]), accuracy,
                 miou, speed)


def _save(manager, step: int, chief: bool, directory: str) -> str:
  try:
    path = manager.save(checkpoint_number=step)
  except tf.errors.OpError as e:  # full disk, read-only or vanished logdir
    raise OSError("cannot write checkpoint %d to %s: %s; the last good "
                  "checkpoint is %s" % (step, directory, e.message,
                                        manager.latest_checkpoint)) from None
  if chief:
    logging.info("saved checkpoint %s", path)
  else:
    shutil.rmtree(directory, ignore_errors=True)
  return path


def _resume_checkpoint(config) -> Optional[str]:
  """The newest intact checkpoint of train_logdir (None if there is none);
  CorruptCheckpointError when none of them reads. Checked before the model
  is built, so that a hopeless resume fails at once."""
  try:
    latest, skipped = newest_intact_checkpoint(config.train_logdir)
  except FileNotFoundError:
    return None
  if skipped:
    logging.warning("resuming from %s, the newest intact checkpoint "
                    "(skipped: %s)", latest, "; ".join(skipped))
  return latest


def _restore_or_initialize(run: RunConfig, trainer: Trainer,
                           latest: Optional[str]) -> Optional[str]:
  """Resumes from `latest` (see _resume_checkpoint), else initialises from
  --tf_initial_checkpoint (if given). Returns the resumed prefix."""
  config = run.train
  if latest:
    trainer.checkpoint.restore(latest).assert_existing_objects_matched()
    logging.info("resuming from %s at step %d%s", latest,
                 int(trainer.step.numpy()),
                 "; --tf_initial_checkpoint=%s is ignored because "
                 "--train_logdir already holds a checkpoint"
                 % config.tf_initial_checkpoint
                 if config.tf_initial_checkpoint else "")
    return latest
  if config.tf_initial_checkpoint:
    checkpoints.initialize_from_checkpoint(
        trainer.model, run.model, config.tf_initial_checkpoint,
        initialize_last_layer=config.initialize_last_layer,
        last_layers_contain_logits_only=config.last_layers_contain_logits_only)
  else:
    logging.info("no checkpoint in %s and no --tf_initial_checkpoint: "
                 "training from random initialisation", config.train_logdir)
  return None
