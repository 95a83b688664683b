"""Loss, hard-pixel mining, weight decay and learning-rate schedules."""

import math

import keras
import numpy as np
import pytest

from deeplab_tf.model import build_model
from deeplab_tf.training import losses
from deeplab_tf.training.schedules import DeepLabLearningRate
from tests.helpers import tiny_options


def _ce(logits, label):
  logits = np.asarray(logits, np.float64)
  return math.log(np.exp(logits).sum()) - logits[label]


def test_loss_ignores_void_and_normalises_by_valid_pixels():
  logits = np.random.RandomState(0).randn(1, 2, 2, 3).astype(np.float32)
  labels = np.array([[[0, 2], [255, 1]]], np.int32)
  loss = losses.segmentation_loss(logits, labels, num_classes=3,
                                  ignore_label=255, upsample_logits=True)
  expected = np.mean([_ce(logits[0, 0, 0], 0), _ce(logits[0, 0, 1], 2),
                      _ce(logits[0, 1, 1], 1)])
  assert float(loss) == pytest.approx(expected, rel=1e-5)
  # Class weights multiply pixel losses; the normaliser stays the count.
  weighted = losses.segmentation_loss(
      logits, labels, num_classes=3, ignore_label=255,
      label_weights=[1.0, 3.0, 0.5])
  expected_w = (_ce(logits[0, 0, 0], 0) + 0.5 * _ce(logits[0, 0, 1], 2)
                + 3.0 * _ce(logits[0, 1, 1], 1)) / 3
  assert float(weighted) == pytest.approx(expected_w, rel=1e-5)
  # All void: 0, not NaN.
  assert float(losses.segmentation_loss(
      logits, np.full_like(labels, 255), num_classes=3,
      ignore_label=255)) == 0.0


def test_top_k_mining_and_its_ramp():
  logits = np.random.RandomState(1).randn(1, 4, 4, 2).astype(np.float32)
  labels = np.random.RandomState(2).randint(0, 2, (1, 4, 4)).astype(np.int32)
  pixel = np.array([_ce(logits[0, i, j], labels[0, i, j])
                    for i in range(4) for j in range(4)])
  top = losses.segmentation_loss(logits, labels, num_classes=2,
                                 ignore_label=255, top_k_percent_pixels=0.25)
  assert float(top) == pytest.approx(np.sort(pixel)[-4:].mean(), rel=1e-5)
  # Ramp: at step 0 all pixels, at half the mining steps 62.5 %.
  kwargs = dict(num_classes=2, ignore_label=255, top_k_percent_pixels=0.25,
                hard_example_mining_step=100)
  start = losses.segmentation_loss(logits, labels, step=0, **kwargs)
  assert float(start) == pytest.approx(pixel.mean(), rel=1e-5)
  assert int(losses.top_k_pixel_count(16, 0.25, 100, 50)) == 10


def test_labels_downsampled_with_nearest_when_not_upsampling_logits():
  labels = np.zeros((1, 9, 9), np.int32)
  labels[:, :, 4:] = 1
  logits = np.zeros((1, 3, 3, 2), np.float32)
  _, small = losses.match_logits_and_labels(logits, labels, False)
  np.testing.assert_array_equal(small.numpy()[0],
                                [[0, 1, 1]] * 3)  # corner-aligned nearest
  big, same = losses.match_logits_and_labels(logits, labels, True)
  assert big.shape == (1, 9, 9, 2) and same.shape == (1, 9, 9)


def test_weight_decay_covers_conv_kernels_only():
  opts = tiny_options(num_classes=3)
  model = build_model(opts, upsample_logits=False)
  kernels = losses.decayed_kernels(model)
  paths = [k.path for k in kernels]
  assert any(p.startswith("logits.semantic") for p in paths)
  assert not any("depthwise" in p for p in paths)
  num_conv = sum(1 for l in model.layers if type(l) is keras.layers.Conv2D)
  assert len(kernels) == num_conv
  expected = 4e-5 * sum(0.5 * float(np.sum(np.square(k.numpy())))
                        for k in kernels)
  assert float(losses.weight_decay_loss(kernels, 4e-5)) == pytest.approx(
      expected, rel=1e-4)


@pytest.mark.parametrize("policy,step,expected", [
    ("poly", 0, 0.007), ("poly", 500, 0.007 * 0.5 ** 0.9),
    ("poly", 1000, 0.0), ("step", 250, 0.007 * 0.1),
    ("cosine", 500, 0.0035)])
def test_learning_rate_policies(policy, step, expected):
  schedule = DeepLabLearningRate(0.007, policy, 1000,
                                 learning_rate_decay_step=200)
  assert float(schedule(step)) == pytest.approx(expected, abs=1e-7)


def test_slow_start():
  schedule = DeepLabLearningRate(0.01, "poly", 1000, slow_start_step=100,
                                 slow_start_learning_rate=1e-4)
  assert float(schedule(50)) == pytest.approx(1e-4)
  assert float(schedule(100)) == pytest.approx(0.01)
  linear = DeepLabLearningRate(0.01, "poly", 1000, slow_start_step=100,
                               slow_start_learning_rate=0.0,
                               slow_start_burnin_type="linear")
  assert float(linear(50)) == pytest.approx(0.005)
