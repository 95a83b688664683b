"""tf.distribute set-up and mixed precision from a TrainConfig.

one_device:   the first GPU, else the CPU.
mirrored:     all local GPUs (or logical CPU devices).
multi_worker: MultiWorkerMirroredStrategy; workers come from TF_CONFIG.
tpu:          TPUStrategy on `--tpu` (a name or grpc:// address).

BatchNorm is synchronised whenever there is more than one replica
(`num_replicas_in_sync > 1`), unlike the reference's per-clone statistics.
"""

import contextlib
import logging
from typing import Optional

import keras
import tensorflow as tf


def make_strategy(name: str, tpu: Optional[str] = None
                  ) -> tf.distribute.Strategy:
  """Creates the strategy `--strategy=name` asks for."""
  if name == "one_device":
    gpus = tf.config.list_logical_devices("GPU")
    return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else
                                           "/cpu:0")
  if name == "mirrored":
    gpus = tf.config.list_logical_devices("GPU")
    if gpus:
      return tf.distribute.MirroredStrategy()
    cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
    return tf.distribute.MirroredStrategy(devices=cpus)
  if name == "multi_worker":
    options = tf.distribute.experimental.CommunicationOptions(
        implementation=tf.distribute.experimental.CommunicationImplementation
        .AUTO)
    return tf.distribute.MultiWorkerMirroredStrategy(
        communication_options=options)
  if name == "tpu":
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(
        tpu=tpu or "")
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)
  raise ValueError("--strategy=%r: choose one_device, mirrored, multi_worker "
                   "or tpu" % name)


def is_chief(strategy: tf.distribute.Strategy) -> bool:
  """True on the worker that writes checkpoints, summaries and logs."""
  resolver = getattr(strategy, "cluster_resolver", None)
  if resolver is None or not isinstance(
      strategy, tf.distribute.MultiWorkerMirroredStrategy):
    return True
  task_type, task_id = resolver.task_type, resolver.task_id
  return task_type in (None, "chief") or (task_type == "worker"
                                          and task_id == 0)


def policy_name(mode: str, strategy_name: str) -> str:
  """The Keras dtype policy of `--mixed_precision=mode`."""
  if mode == "none":
    return "float32"
  if mode == "auto":
    has_gpu = bool(tf.config.list_physical_devices("GPU"))
    return ("mixed_float16" if has_gpu and strategy_name != "tpu"
            else "mixed_bfloat16")
  return "mixed_" + mode


def set_mixed_precision(mode: str, strategy_name: str) -> str:
  """Sets the global Keras dtype policy; returns the policy name."""
  policy = policy_name(mode, strategy_name)
  keras.mixed_precision.set_global_policy(policy)
  if policy != "float32":
    logging.info("mixed precision: Keras policy %s (logits and loss stay "
                 "float32)", policy)
  return policy


@contextlib.contextmanager
def mixed_precision(mode: str, strategy_name: str):
  """Layers built inside use `--mixed_precision=mode`; the global policy is
  restored on exit, so a library call never changes the caller's. Yields
  the policy name."""
  previous = keras.mixed_precision.global_policy()
  try:
    yield set_mixed_precision(mode, strategy_name)
  finally:
    keras.mixed_precision.set_global_policy(previous)
