"""The training loop: overfitting real photos, resume after a kill,
initialisation across class counts (TF2 and TF1 checkpoints), frozen vs
fine-tuned BatchNorm, and NaN handling."""

import dataclasses
import os
import re
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from deeplab_tf.evaluation import metrics
from deeplab_tf.model import build_model
from deeplab_tf.training import checkpoints, loop
from deeplab_tf.training.strategy import make_strategy
from tests.cli_helpers import run_cli
from tests.helpers import (DATA, REPO, fixed_batches, random_batch, require,
                           tiny_config, tiny_options)


def _voc_batch(size=129):
  root = require(DATA / "voc" / "VOCdevkit" / "VOC2012")
  names = (root / "ImageSets" / "Segmentation" / "train.txt").read_text(
  ).split()
  images, labels = [], []
  for name in names:
    image = Image.open(root / "JPEGImages" / (name + ".jpg")).convert("RGB")
    label = Image.open(root / "SegmentationClass" / (name + ".png"))
    images.append(np.array(image.resize((size, size), Image.BILINEAR)))
    labels.append(np.array(label.resize((size, size), Image.NEAREST)))
  return np.stack(images).astype(np.float32), np.stack(labels).astype(np.int32)


def _miou(model, images, labels, num_classes):
  logits = model(images, training=False)
  logits = tf.compat.v1.image.resize_bilinear(logits, labels.shape[1:3],
                                              align_corners=True)
  predictions = tf.argmax(logits, -1)
  cm = metrics.confusion_matrix(labels, predictions, num_classes, 255)
  return metrics.metrics_from_confusion(cm.numpy())["miou"]


@pytest.mark.slow
def test_tiny_model_overfits_real_voc_images(tmp_path):
  images, labels = _voc_batch()
  model_opts = tiny_options(21, depth_multiplier=0.5, filters=32)
  config = tiny_config(tmp_path, num_classes=21, model=model_opts, crop=129,
                       train_batch_size=len(images), base_learning_rate=0.05,
                       training_number_of_steps=80, log_steps=10,
                       weight_decay=0.0)
  strategy = make_strategy("one_device")
  trainer = loop.Trainer(config, strategy)
  dataset = trainer.distribute(fixed_batches(images, labels))
  iterator = iter(dataset)
  miou_before = _miou(trainer.model, images, labels, 21)
  losses = [float(trainer.train_step(next(iterator))["loss"])
            for _ in range(80)]
  miou_after = _miou(trainer.model, images, labels, 21)
  assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])
  assert miou_after > miou_before + 0.2
  assert miou_after > 0.4


def test_fine_tuned_vs_frozen_batch_norm(tmp_path):
  images, labels = random_batch()
  results = {}
  for fine_tune in (True, False):
    config = tiny_config(tmp_path / str(fine_tune),
                         fine_tune_batch_norm=fine_tune)
    trainer = loop.Trainer(config, make_strategy("one_device"))
    bn = trainer.model.get_layer("aspp0.BatchNorm")
    before = [w.numpy().copy() for w in (bn.moving_mean, bn.beta)]
    it = iter(trainer.distribute(fixed_batches(images, labels)))
    trainer.train_step(next(it))
    results[fine_tune] = [not np.array_equal(b, w.numpy()) for b, w in
                          zip(before, (bn.moving_mean, bn.beta))]
  assert results[True] == [True, True]    # statistics and beta train
  # Frozen: inference statistics, no updates; beta/gamma still train (as
  # the reference's is_training=False BN inside a training graph).
  assert results[False] == [False, True]


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
  images, labels = random_batch()
  result = loop.train(tiny_config(tmp_path, training_number_of_steps=2),
                      dataset_fn=fixed_batches(images, labels))
  assert result.checkpoint.endswith("ckpt-2")
  bad = images.copy()
  bad[0, 0, 0, 0] = np.nan
  with pytest.raises(loop.NonFiniteLossError, match="ckpt-2"):
    loop.train(tiny_config(tmp_path, training_number_of_steps=6),
               dataset_fn=fixed_batches(bad, labels))
  assert tf.train.latest_checkpoint(str(tmp_path)).endswith("ckpt-2")


def test_resume_and_model_mismatch(tmp_path, caplog):
  images, labels = random_batch()
  loop.train(tiny_config(tmp_path, training_number_of_steps=3),
             dataset_fn=fixed_batches(images, labels))
  result = loop.train(tiny_config(tmp_path, training_number_of_steps=5),
                      dataset_fn=fixed_batches(images, labels))
  assert result.resumed_from.endswith("ckpt-3")
  assert result.step == 5 and result.checkpoint.endswith("ckpt-5")
  assert not result.already_complete
  with caplog.at_level("INFO"):  # a finished run re-run: says so, no "nan"
    again = loop.train(tiny_config(tmp_path, training_number_of_steps=5),
                       dataset_fn=fixed_batches(images, labels))
  assert again.already_complete and again.step == 5
  assert again.checkpoint.endswith("ckpt-5")
  assert "training is already complete at step 5" in caplog.text
  assert tf.train.latest_checkpoint(str(tmp_path)).endswith("ckpt-5")
  with pytest.raises(ValueError, match="num_classes"):
    loop.train(tiny_config(tmp_path, num_classes=4,
                           training_number_of_steps=6),
               dataset_fn=fixed_batches(images, labels))


def test_init_from_tf2_checkpoint_with_other_class_count(tmp_path, caplog):
  images, labels = random_batch()
  source = loop.train(tiny_config(tmp_path / "src", training_number_of_steps=1),
                      dataset_fn=fixed_batches(images, labels))
  config = tiny_config(tmp_path / "dst", num_classes=5,
                       tf_initial_checkpoint=source.checkpoint)
  trainer = loop.Trainer(config, make_strategy("one_device"))
  report = checkpoints.initialize_from_checkpoint(
      trainer.model, config.model, source.checkpoint)
  assert report.kind == "tf2"
  assert report.not_restored == ["logits.semantic"]
  assert "5" in report.reason and "3" in report.reason
  src_model = build_model(tiny_options(3), upsample_logits=False)
  tf.train.Checkpoint(model=src_model).restore(
      source.checkpoint).expect_partial()
  for name in ("MobilenetV2.Conv", "aspp0.BatchNorm", "decoder.decoder_conv1_"
               "pointwise"):
    for a, b in zip(src_model.get_layer(name).get_weights(),
                    trainer.model.get_layer(name).get_weights()):
      np.testing.assert_array_equal(a, b)
  # --initialize_last_layer=false: the whole head keeps its initialisation.
  head = checkpoints.initialize_from_checkpoint(
      trainer.model, config.model, source.checkpoint,
      initialize_last_layer=False)
  assert "aspp0" in head.not_restored and "decoder.feature_projection0" in (
      head.not_restored)
  assert not any(n.startswith("MobilenetV2") for n in head.not_restored)
  # Through train(): a fresh logdir initialises from it and trains.
  result = loop.train(config, dataset_fn=fixed_batches(
      images, np.minimum(labels, 4)))
  assert result.step == 4 and result.resumed_from is None


def test_init_from_tf1_checkpoint_with_other_class_count(tmp_path):
  from deeplab_tf import tf1_checkpoint
  zoo = build_model(tiny_options(21), upsample_logits=False)
  table = tf1_checkpoint.tf1_name_table(zoo)
  names = sorted(table) + ["global_step"]
  values = [table[n].numpy() for n in names[:-1]] + [np.int64(7)]
  prefix = str(tmp_path / "model.ckpt")
  tf.raw_ops.SaveV2(prefix=prefix, tensor_names=names,
                    shape_and_slices=[""] * len(names),
                    tensors=[tf.constant(v) for v in values])
  model = build_model(tiny_options(3), upsample_logits=False)
  report = checkpoints.initialize_from_checkpoint(model, tiny_options(3),
                                                  prefix)
  assert report.kind == "tf1"
  assert report.not_restored == ["logits.semantic"]
  np.testing.assert_array_equal(
      model.get_layer("aspp0").kernel.numpy(),
      zoo.get_layer("aspp0").kernel.numpy())


def _train_cmd(logdir, data_dir, steps):
  return [sys.executable, "train.py", "--dataset=synthetic",
          "--dataset_dir=%s" % data_dir, "--train_logdir=%s" % logdir,
          "--model_variant=mobilenet_v2", "--depth_multiplier=0.25",
          "--train_crop_size=65,65", "--train_batch_size=2",
          "--training_number_of_steps=%d" % steps, "--save_interval_secs=0",
          "--log_steps=1", "--seed=3"]


@pytest.mark.slow
def test_killed_run_resumes_from_last_checkpoint(tmp_path):
  from deeplab_tf.data.synthetic import write_synthetic_dataset
  data_dir = tmp_path / "data"
  write_synthetic_dataset(str(data_dir), num_train=4, num_val=2,
                          image_size=(64, 64))
  logdir = tmp_path / "run"
  env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="2")
  proc = subprocess.Popen(_train_cmd(logdir, data_dir, 10000), cwd=REPO,
                          env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
  deadline = time.time() + 300
  saved = []
  for line in proc.stdout:
    saved += re.findall(r"saved checkpoint \S+ckpt-(\d+)", line)
    if len(saved) >= 3 or time.time() > deadline:
      break
  proc.kill()  # no clean shutdown: like a pre-empted job
  proc.wait()
  assert len(saved) >= 3, "no checkpoints written before the deadline"
  last = int(tf.train.latest_checkpoint(str(logdir)).rsplit("-", 1)[1])
  assert last >= int(saved[-1])
  # The resumed run: train.py in this process (the kill needed its own).
  out = run_cli(*_train_cmd(logdir, data_dir, last + 2)[1:])
  assert out.returncode == 0, out.stderr[-3000:]
  log = out.stdout + out.stderr
  assert re.search(r"resuming from \S+ckpt-%d at step %d" % (last, last), log)
  assert "step %d/%d" % (last + 1, last + 2) in log
  assert tf.train.latest_checkpoint(str(logdir)).endswith(
      "ckpt-%d" % (last + 2))


def test_summaries_and_saved_config(tmp_path):
  from deeplab_tf.run_config import load_run_config
  images, labels = random_batch()
  run = tiny_config(tmp_path, training_number_of_steps=2,
                    save_summaries_secs=0, log_steps=1)
  colors = ((0, 0, 0), (255, 0, 0), (0, 255, 0))
  run = run.replace(data=run.data.replace(descriptor=dataclasses.replace(
      run.data.descriptor, colormap=colors)))
  loop.train(run, dataset_fn=fixed_batches(images, labels))
  tags = set()
  for path in tmp_path.glob("events.out.tfevents.*"):
    for event in tf.compat.v1.train.summary_iterator(str(path)):
      tags.update(v.tag for v in event.summary.value)
  assert {"train/loss", "train/learning_rate", "train/pixel_accuracy",
          "train/miou", "images/prediction", "images/label"} <= tags
  saved = load_run_config(str(tmp_path))
  assert saved.model == tiny_options(3)
  assert saved.data.ignore_label == 255 and saved.data.colormap == colors
  assert saved.train == run.train
