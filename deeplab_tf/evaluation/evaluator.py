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
from deeplab_tf.evaluation.vis_writer import Visualizer
from deeplab_tf.inference import predict_labels
from deeplab_tf.sliding_window import predict_sliding
from deeplab_tf.model import build_model
from deeplab_tf.checkpoint_files import CorruptCheckpointError, trained_step
from deeplab_tf.data.shard_check import record_read_error
from deeplab_tf.run_config import RunConfig, restore_model
from deeplab_tf.tensorboard import write_scalar

METRICS_FILENAME = "metrics.json"


class Evaluator:
  """Holds the model and the compiled prediction for repeated evaluation."""

  def __init__(self, run: RunConfig):
    self.run = run
    self.config = config = run.eval
    self.model = build_model(run.model, upsample_logits=False)
    mean = run.model.mean_pixel
    num_classes, ignore_label = run.data.num_classes, run.data.ignore_label

    def predict(images):
      if config.window is not None:
        return predict_sliding(
            self.model, images, window=config.window, mean_pixel=mean,
            num_classes=num_classes, scales=config.eval_scales,
            add_flipped_images=config.add_flipped_images)
      return predict_labels(
          self.model, images, crop_size=config.crop_size, mean_pixel=mean,
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
          labels, predictions, num_classes, ignore_label, mask=region)
      out_of_range = tf.logical_and(region, tf.logical_and(
          tf.not_equal(labels, ignore_label),
          tf.logical_or(labels < 0, labels >= num_classes)))
      num_out_of_range = tf.math.count_nonzero(out_of_range, dtype=tf.int64)
      if config.trimap_widths:
        trimaps = boundary.trimap_confusions(
            labels, predictions, num_classes=num_classes,
            ignore_label=ignore_label, widths=config.trimap_widths,
            valid_region=region)
      else:
        trimaps = tf.zeros([0, num_classes, num_classes], tf.int64)
      return predictions, confusion, trimaps, num_out_of_range

    self._score = score

  def evaluate(self, checkpoint: str) -> Dict:
    """Evaluates one checkpoint (prefix or directory); returns the metrics
    dict also written to metrics.json."""
    prefix = restore_model(self.model, checkpoint)
    start = time.time()
    confusion, trimaps, num_images, visualized = self._accumulate()
    result = self._result(confusion, trimaps, num_images)
    result.update(step=trained_step(prefix), checkpoint=prefix,
                  seconds=round(time.time() - start, 3))
    if visualized is not None:
      result["visualized_images"] = visualized
    self._write(result)
    return result

  def _accumulate(self):
    """(confusion, trimap confusions, images, images drawn or None) over
    the split; a corrupt shard or another dataset's labels is a UserError."""
    config, data = self.config, self.run.data
    # Sliding windows pad themselves; the pipeline then only pads a batch
    # to its largest image.
    dataset = build_eval_dataset(
        data.source, data.eval_split,
        crop_size=config.crop_size if config.window is None else (1, 1),
        batch_size=config.eval_batch_size, ignore_label=data.ignore_label,
        mean_pixel=self.run.model.mean_pixel)
    c = data.num_classes
    confusion = np.zeros((c, c), np.int64)
    trimaps = np.zeros((len(config.trimap_widths), c, c), np.int64)
    visualizer = (Visualizer(config, data.colormap) if config.vis_logdir
                  else None)
    num_images = out_of_range = 0
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
      raise record_read_error(data.dataset_dir, data.eval_split, e) from None
    if num_images == 0:
      raise UserError("--eval_split=%s of %s has no images"
                      % (data.eval_split, data.source))
    if out_of_range:
      raise UserError(
          "--dataset_dir=%s: %d label pixels of split %s are outside [0, %d) "
          "and not the ignore label %d of the checkpoint's dataset %s; these "
          "records belong to another dataset (pass the checkpoint's data as "
          "--dataset_dir)" % (data.dataset_dir, out_of_range,
                              data.eval_split, data.num_classes,
                              data.ignore_label, data.name))
    return (confusion, trimaps, num_images,
            visualizer.count if visualizer is not None else None)

  def _result(self, confusion, trimaps, num_images: int) -> Dict:
    """The metrics and the settings that produced them."""
    config, data, model = self.config, self.run.data, self.run.model
    result = metrics.metrics_from_confusion(confusion, data.class_names)
    result.update({
        "dataset": data.name, "eval_split": data.eval_split,
        "num_images": num_images, "output_stride": model.output_stride,
        "atrous_rates": list(model.atrous_rates or []),
        "eval_crop_size": list(config.crop_size),
        "eval_scales": list(config.eval_scales),
        "add_flipped_images": config.add_flipped_images,
        "inference_mode": config.inference_mode,
        "confusion_matrix": confusion.tolist()})
    if config.window is not None:
      result["window_size"] = list(config.window.window_size)
      result["window_stride"] = list(config.window.window_stride)
      result["window_weighting"] = config.window.weighting
    if config.trimap_widths:
      result["trimap"] = [
          {"width": w, "miou": metrics.metrics_from_confusion(
              trimaps[i], data.class_names)["miou"],
           "num_pixels": int(trimaps[i].sum())}
          for i, w in enumerate(config.trimap_widths)]
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


def run(run_config: RunConfig) -> Dict:
  """Evaluates `run_config.eval.checkpoint` on `run_config.data`: a single
  pass (max_number_of_evaluations=1) or continuously.

  Returns the last metrics dict.
  """
  evaluator = Evaluator(run_config)
  config = run_config.eval
  if config.max_number_of_evaluations == 1:
    result = evaluator.evaluate(config.checkpoint)
    logging.info("%s", metrics.format_metrics(result, _title(result)))
    return result
  result, count = None, 0
  for prefix in tf.train.checkpoints_iterator(
      config.checkpoint, min_interval_secs=config.eval_interval_secs,
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
                            % (config.checkpoint,
                               config.eval_timeout_secs))
  return result


def _title(result: Dict) -> str:
  return ("%s, split %s, %d images, step %s, OS %d, scales %s%s:"
          % (result["checkpoint"], result["eval_split"], result["num_images"],
             result["step"], result["output_stride"], result["eval_scales"],
             " + flip" if result["add_flipped_images"] else ""))
