"""The evaluation loop: one confusion matrix over a whole split.

Every image is padded (bottom/right, mean pixel) to at least the eval crop,
predicted through `deeplab_tf.inference` (multi-scale + flip), and scored at
its original label resolution; the padding never counts. Results go to
`<eval_logdir>/metrics.json` (atomically) and TensorBoard scalars; continuous
mode waits for new checkpoints in the train_logdir.
"""

import json
import logging
import os
import time
from typing import Dict

import numpy as np
import tensorflow as tf

from deeplab_tf.atomic_io import atomic_write_text
from deeplab_tf.data.input_pipeline import build_eval_dataset
from deeplab_tf.errors import UserError
from deeplab_tf.evaluation import boundary, metrics
from deeplab_tf.evaluation.config import EvalConfig
from deeplab_tf.evaluation.vis_writer import Visualizer
from deeplab_tf.inference import predict_labels
from deeplab_tf.sliding_window import predict_sliding
from deeplab_tf.model import build_model
from deeplab_tf.checkpoint_files import CorruptCheckpointError, trained_step
from deeplab_tf.data.shard_check import record_read_error
from deeplab_tf.run_config import restore_model
from deeplab_tf.tensorboard import write_scalar

METRICS_FILENAME = "metrics.json"


class Evaluator:
  """Holds the model and the compiled prediction for repeated evaluation."""

  def __init__(self, config: EvalConfig):
    self.config = config
    self.model = build_model(config.model, upsample_logits=False)
    crop = config.model.crop_size
    mean = config.model.mean_pixel
    window = config.sliding_window

    def predict(images):
      if window is not None:
        return predict_sliding(
            self.model, images, window=window, mean_pixel=mean,
            num_classes=config.num_classes, scales=config.eval_scales,
            add_flipped_images=config.add_flipped_images)
      return predict_labels(
          self.model, images, crop_size=crop, mean_pixel=mean,
          scales=config.eval_scales,
          add_flipped_images=config.add_flipped_images)

    @tf.function(input_signature=[
        tf.TensorSpec([None, None, None, 3], tf.float32),
        tf.TensorSpec([None, None, None], tf.int32),
        tf.TensorSpec([None], tf.int32), tf.TensorSpec([None], tf.int32)])
    def score(images, labels, heights, widths):
      predictions = predict(images)
      region = boundary.valid_region_mask(tf.shape(labels), heights, widths)
      confusion = metrics.confusion_matrix(
          labels, predictions, config.num_classes, config.ignore_label,
          mask=region)
      out_of_range = tf.logical_and(region, tf.logical_and(
          tf.not_equal(labels, config.ignore_label),
          tf.logical_or(labels < 0, labels >= config.num_classes)))
      num_out_of_range = tf.math.count_nonzero(out_of_range, dtype=tf.int64)
      if config.trimap_widths:
        trimaps = boundary.trimap_confusions(
            labels, predictions, num_classes=config.num_classes,
            ignore_label=config.ignore_label, widths=config.trimap_widths,
            valid_region=region)
      else:
        trimaps = tf.zeros([0, config.num_classes, config.num_classes],
                           tf.int64)
      return predictions, confusion, trimaps, num_out_of_range

    self._score = score

  def evaluate(self, checkpoint: str) -> Dict:
    """Evaluates one checkpoint (prefix or directory); returns the metrics
    dict also written to metrics.json."""
    config = self.config
    prefix = restore_model(self.model, checkpoint)
    step = trained_step(prefix)
    # Sliding windows pad themselves; the pipeline then only pads a batch
    # to its largest image.
    dataset = build_eval_dataset(
        config.data_source, config.eval_split,
        crop_size=(config.model.crop_size if config.sliding_window is None
                   else (1, 1)), batch_size=config.eval_batch_size,
        ignore_label=config.ignore_label,
        mean_pixel=config.model.mean_pixel)
    c = config.num_classes
    confusion = np.zeros((c, c), np.int64)
    trimaps = np.zeros((len(config.trimap_widths), c, c), np.int64)
    visualizer = (Visualizer(config) if config.vis_logdir else None)
    num_images, start = 0, time.time()
    out_of_range = 0
    try:
      for batch in dataset:
        predictions, batch_confusion, batch_trimaps, bad = self._score(
            batch["image"], batch["label"], batch["height"], batch["width"])
        confusion += batch_confusion.numpy()
        trimaps += batch_trimaps.numpy()
        out_of_range += int(bad)
        if visualizer is not None:
          visualizer.add_batch(batch, predictions.numpy())
        num_images += int(batch["image"].shape[0])
    except tf.errors.DataLossError as e:
      raise record_read_error(config.dataset_dir, config.eval_split,
                              e) from None
    if num_images == 0:
      raise UserError("--eval_split=%s of %s has no images"
                      % (config.eval_split, config.data_source))
    if out_of_range:
      raise UserError(
          "--dataset_dir=%s: %d label pixels of split %s are outside [0, %d) "
          "and not the ignore label %d of the checkpoint's dataset %s; these "
          "records belong to another dataset (pass the checkpoint's data as "
          "--dataset_dir)" % (config.dataset_dir, out_of_range,
                              config.eval_split, config.num_classes,
                              config.ignore_label, config.dataset))
    result = metrics.metrics_from_confusion(confusion, config.class_names)
    result.update({
        "step": step, "checkpoint": prefix, "dataset": config.dataset,
        "eval_split": config.eval_split, "num_images": num_images,
        "output_stride": config.model.output_stride,
        "atrous_rates": list(config.model.atrous_rates or []),
        "eval_crop_size": list(config.model.crop_size),
        "eval_scales": list(config.eval_scales),
        "add_flipped_images": config.add_flipped_images,
        "inference_mode": config.inference_mode,
        "seconds": round(time.time() - start, 3),
        "confusion_matrix": confusion.tolist()})
    if visualizer is not None:
      result["visualized_images"] = visualizer.count
    if config.sliding_window is not None:
      result["window_size"] = list(config.window_size)
      result["window_stride"] = list(config.window_stride)
      result["window_weighting"] = config.window_weighting
    if config.trimap_widths:
      result["trimap"] = [
          {"width": w, "miou": metrics.metrics_from_confusion(
              trimaps[i], config.class_names)["miou"],
           "num_pixels": int(trimaps[i].sum())}
          for i, w in enumerate(config.trimap_widths)]
    self._write(result)
    return result

  def _write(self, result: Dict):
    config = self.config
    atomic_write_text(os.path.join(config.eval_logdir, METRICS_FILENAME),
                      json.dumps(result, indent=2) + "\n")
    writer = tf.summary.create_file_writer(config.eval_logdir)
    step = result["step"] or 0
    with writer.as_default(step=step):
      write_scalar("eval/miou", result["miou"], step)
      write_scalar("eval/pixel_accuracy", result["pixel_accuracy"], step)
      write_scalar("eval/mean_accuracy", result["mean_accuracy"], step)
      for c in result["per_class"]:
        if c["iou"] is not None:
          write_scalar("eval_class_iou/%s" % c["name"], c["iou"], step)
      for t in result.get("trimap", []):
        write_scalar("eval_trimap/miou_width_%d" % t["width"], t["miou"], step)
    writer.flush()


def run(config: EvalConfig) -> Dict:
  """Single pass (max_number_of_evaluations=1) or continuous evaluation.

  Returns the last metrics dict.
  """
  evaluator = Evaluator(config)
  if config.max_number_of_evaluations == 1:
    result = evaluator.evaluate(config.checkpoint_dir)
    logging.info("%s", metrics.format_metrics(result, _title(result)))
    return result
  result, count = None, 0
  for prefix in tf.train.checkpoints_iterator(
      config.checkpoint_dir, min_interval_secs=config.eval_interval_secs,
      timeout=config.eval_timeout_secs):
    try:
      result = evaluator.evaluate(prefix)
    except (FileNotFoundError, CorruptCheckpointError) as e:
      # Rotated away by max_to_keep, or unreadable: wait for the next one.
      logging.warning("skipping checkpoint %s: %s", prefix, e)
      continue
    count += 1
    logging.info("%s", metrics.format_metrics(result, _title(result)))
    if config.max_number_of_evaluations and (
        count >= config.max_number_of_evaluations):
      break
    if config.stop_at_step is not None and (
        (result["step"] or 0) >= config.stop_at_step):
      logging.info("evaluated the final step %d; stopping", result["step"])
      break
  if result is None:
    raise FileNotFoundError("no checkpoint appeared in %s within %s s"
                            % (config.checkpoint_dir,
                               config.eval_timeout_secs))
  return result


def _title(result: Dict) -> str:
  return ("%s, split %s, %d images, step %s, OS %d, scales %s%s:"
          % (result["checkpoint"], result["eval_split"], result["num_images"],
             result["step"], result["output_stride"], result["eval_scales"],
             " + flip" if result["add_flipped_images"] else ""))
