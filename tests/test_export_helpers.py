"""Shared pieces of the export tests: a tiny trained checkpoint and images."""

import io
import pathlib

import keras
import numpy as np
import tensorflow as tf
from PIL import Image

from deeplab_tf.config import ModelOptions
from deeplab_tf.model import build_model
from deeplab_tf.run_config import save_run_config

CROP = (129, 129)
NUM_CLASSES = 21
IGNORE = 255
STEP = 7


def tiny_options() -> ModelOptions:
  """A small MobileNetV2 DeepLabv3+ (decoder, no ASPP 3x3 branches)."""
  return ModelOptions(model_variant="mobilenet_v2", num_classes=NUM_CLASSES,
                      atrous_rates=None, decoder_output_stride=4,
                      depth_multiplier=0.5, aspp_convs_filters=32,
                      decoder_filters=32, crop_size=CROP)


def voc_root(data_dir: pathlib.Path) -> pathlib.Path:
  return data_dir / "voc/VOCdevkit/VOC2012"


def read_rgb(path) -> np.ndarray:
  return np.asarray(Image.open(path).convert("RGB"))


def encode(image: np.ndarray, fmt: str) -> bytes:
  buffer = io.BytesIO()
  Image.fromarray(image).save(buffer, format=fmt)
  return buffer.getvalue()


def _set_bn_statistics(model, images):
  """Moving statistics := the statistics of `images` (momentum 0 once)."""
  bns = [l for l in model.layers
         if isinstance(l, keras.layers.BatchNormalization)]
  saved = [bn.momentum for bn in bns]
  for bn in bns:
    bn.momentum = 0.0
  model(images, training=True)
  for bn, momentum in zip(bns, saved):
    bn.momentum = momentum


def train_tiny_checkpoint(data_dir: pathlib.Path, logdir: pathlib.Path,
                          tfrecord_dir: pathlib.Path, steps: int = 12):
  """A few Adam steps on real VOC crops; writes ckpt-STEP + run config."""
  keras.utils.set_random_seed(1)
  opts = tiny_options()
  model = build_model(opts, upsample_logits=True)
  root = voc_root(data_dir)
  names = (root / "ImageSets/Segmentation/val.txt").read_text().split()[:4]
  images = np.stack([read_rgb(root / "JPEGImages" / (n + ".jpg"))
                     [:CROP[0], :CROP[1]] for n in names]).astype(np.float32)
  labels = np.stack([np.asarray(Image.open(root / "SegmentationClass" /
                                           (n + ".png")))[:CROP[0], :CROP[1]]
                     for n in names]).astype(np.int32)
  _set_bn_statistics(model, images)
  optimizer = keras.optimizers.Adam(3e-3)
  valid = tf.cast(labels != IGNORE, tf.float32)
  safe = np.where(labels == IGNORE, 0, labels)
  for _ in range(steps):
    with tf.GradientTape() as tape:
      logits = model(images, training=False)
      xent = keras.losses.sparse_categorical_crossentropy(
          safe, logits, from_logits=True)
      loss = tf.reduce_sum(valid * xent) / tf.reduce_sum(valid)
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
  manager = tf.train.CheckpointManager(tf.train.Checkpoint(model=model),
                                       str(logdir), max_to_keep=1)
  manager.save(checkpoint_number=STEP)
  save_run_config(str(logdir), opts, {
      "name": "pascal_voc_seg", "num_classes": NUM_CLASSES,
      "ignore_label": IGNORE, "dataset_dir": str(tfrecord_dir)},
                  {"training_number_of_steps": steps})
  return opts, float(loss)
