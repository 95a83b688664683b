"""Writes visualisations of evaluated images (`--vis_logdir`).

Per image `<name>_image.png`, `<name>_prediction.png` (colourised with the
dataset colormap), `<name>_overlay.png`, `<name>_label.png` (colourised
ground truth) and, with `also_save_raw_predictions`, `raw/<name>.png` (label
ids, or Cityscapes labelIds for test-server submission).
"""

import os
import re

import numpy as np

from deeplab_tf.evaluation import cityscapes
from deeplab_tf.evaluation.label_colors import colorize, overlay, save_png


def safe_name(filename) -> str:
  if isinstance(filename, bytes):
    filename = filename.decode("utf-8", "replace")
  name = os.path.splitext(os.path.basename(str(filename)))[0]
  return re.sub(r"[^A-Za-z0-9._-]+", "_", name) or "image"


class Visualizer:
  """Draws each evaluated image of a batch (`config`: an EvalConfig;
  `colormap`: the dataset's colours)."""

  def __init__(self, config, colormap):
    self.config = config
    self.colormap = colormap
    self.count = 0

  def add_batch(self, batch, predictions: np.ndarray):
    config = self.config
    images = batch["image"].numpy()
    labels = batch["label"].numpy()
    for i in range(images.shape[0]):
      if config.vis_max_images is not None and (
          self.count >= config.vis_max_images):
        return
      h, w = int(batch["height"][i]), int(batch["width"][i])
      name = safe_name(batch["filename"][i].numpy()) or "%06d" % self.count
      image = np.clip(images[i, :h, :w], 0, 255).astype(np.uint8)
      prediction = predictions[i, :h, :w]
      label = labels[i, :h, :w]
      out = config.vis_logdir
      save_png(os.path.join(out, name + "_image.png"), image)
      save_png(os.path.join(out, name + "_prediction.png"),
               colorize(prediction, self.colormap))
      save_png(os.path.join(out, name + "_overlay.png"),
               overlay(image, prediction, self.colormap))
      save_png(os.path.join(out, name + "_label.png"),
               colorize(label, self.colormap))
      if config.also_save_raw_predictions:
        raw = prediction.astype(np.uint8)
        if config.convert_to_cityscapes_label_ids:
          raw = cityscapes.train_ids_to_label_ids(raw)
        save_png(os.path.join(out, "raw", name + ".png"), raw)
      self.count += 1
