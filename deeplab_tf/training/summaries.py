"""Console progress and TensorBoard summaries of a training run."""

import time
from typing import Optional, Sequence

import numpy as np
import tensorflow as tf

from deeplab_tf.evaluation.metrics import metrics_from_confusion
from deeplab_tf.evaluation.label_colors import colorize
from deeplab_tf.tensorboard import write_images, write_scalar


def format_duration(seconds: float) -> str:
  seconds = max(0, int(seconds))
  h, rem = divmod(seconds, 3600)
  m, s = divmod(rem, 60)
  return "%d:%02d:%02d" % (h, m, s) if h else "%d:%02d" % (m, s)


class Progress:
  """steps/s, images/s and ETA over the last logging interval."""

  def __init__(self, start_step: int, total_steps: int, batch_size: int):
    self.total_steps = total_steps
    self.batch_size = batch_size
    self._last_step = start_step
    self._last_time = time.time()
    self.steps_per_sec = 0.0

  def update(self, step: int) -> str:
    now = time.time()
    elapsed = max(now - self._last_time, 1e-9)
    self.steps_per_sec = (step - self._last_step) / elapsed
    self._last_step, self._last_time = step, now
    eta = ((self.total_steps - step) / self.steps_per_sec
           if self.steps_per_sec > 0 else float("inf"))
    return "%.2f steps/s, %.1f images/s, ETA %s" % (
        self.steps_per_sec, self.steps_per_sec * self.batch_size,
        format_duration(eta) if np.isfinite(eta) else "?")


class TrainSummaries:
  """TensorBoard scalars and images, written by the chief only."""

  def __init__(self, logdir: Optional[str], colormap: Sequence,
               class_names: Sequence[str], num_classes: int):
    self.writer = (tf.summary.create_file_writer(logdir) if logdir
                   else tf.summary.create_noop_writer())
    self.colormap = colormap
    self.class_names = class_names
    self.num_classes = num_classes
    self.confusion = np.zeros((num_classes, num_classes), np.int64)

  def accumulate(self, confusion):
    self.confusion += np.asarray(confusion, np.int64)

  def train_metrics(self):
    """(pixel accuracy, mIoU) since the last `write_scalars`."""
    m = metrics_from_confusion(self.confusion, self.class_names)
    return m["pixel_accuracy"], m["miou"]

  def write_scalars(self, step: int, loss: float, total_loss: float,
                    learning_rate: float, steps_per_sec: float,
                    images_per_sec: float):
    accuracy, miou = self.train_metrics()
    with self.writer.as_default(step=step):
      for name, value in (("train/loss", loss),
                          ("train/total_loss", total_loss),
                          ("train/learning_rate", learning_rate),
                          ("train/pixel_accuracy", accuracy),
                          ("train/miou", miou),
                          ("speed/steps_per_sec", steps_per_sec),
                          ("speed/images_per_sec", images_per_sec)):
        write_scalar(name, value, step)
    self.confusion[:] = 0
    return accuracy, miou

  def write_images(self, step: int, images, labels, predictions,
                   max_outputs: int = 3):
    """Input, colourised ground truth and colourised prediction."""
    images = np.asarray(images)[:max_outputs]
    labels = np.asarray(labels)[:max_outputs]
    predictions = np.asarray(predictions)[:max_outputs]
    with self.writer.as_default(step=step):
      write_images("images/input", np.clip(images, 0, 255), step)
      write_images("images/label", colorize(labels, self.colormap), step)
      write_images("images/prediction", colorize(predictions, self.colormap),
                   step)

  def flush(self):
    self.writer.flush()
