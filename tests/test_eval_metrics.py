"""Confusion-matrix metrics, the boundary trimap metric and id conversion."""

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from deeplab_tf.evaluation import boundary, cityscapes, metrics
from deeplab_tf.evaluation.label_colors import colorize, overlay
from tests.helpers import DATA, require

VOC = DATA / "voc" / "VOCdevkit" / "VOC2012"


def _read_ids(path):
  return np.array(Image.open(path))  # palette PNG: index = class id


def test_voc_val_predictions_match_reference_miou():
  root = require(VOC)
  names = (root / "ImageSets" / "Segmentation" / "val.txt").read_text().split()
  assert len(names) == 7
  cm_np = np.zeros((21, 21), np.int64)
  cm_tf = np.zeros((21, 21), np.int64)
  for name in names:
    label = _read_ids(root / "SegmentationClass" / (name + ".png"))
    pred = _read_ids(root / "SegmentationClassPred" / (name + ".png"))
    cm_np += metrics.confusion_matrix_np(label, pred, 21, 255)
    cm_tf += metrics.confusion_matrix(label, pred, 21, 255).numpy()
  np.testing.assert_array_equal(cm_np, cm_tf)
  result = metrics.metrics_from_confusion(cm_tf)
  assert result["miou"] == pytest.approx(0.940125, abs=5e-7)
  assert result["pixel_accuracy"] == pytest.approx(0.984714, abs=5e-7)
  assert result["num_classes_present"] == 7


def test_metrics_by_hand():
  labels = np.array([[0, 0, 1, 1], [2, 2, 255, 1]])
  preds = np.array([[0, 1, 1, 1], [2, 0, 0, 3]])
  cm = metrics.confusion_matrix_np(labels, preds, 4, 255)
  # class 0: tp 1, gt 2, pred 2 -> 1/3; class 1: tp 2, gt 3, pred 3 -> 2/4;
  # class 2: tp 1, gt 2, pred 1 -> 1/2; class 3: tp 0, union 1 -> 0.
  m = metrics.metrics_from_confusion(cm, ["a", "b", "c", "d"])
  ious = [c["iou"] for c in m["per_class"]]
  np.testing.assert_allclose(ious, [1 / 3, 0.5, 0.5, 0.0])
  assert m["miou"] == pytest.approx((1 / 3 + 0.5 + 0.5 + 0) / 4)
  assert m["pixel_accuracy"] == pytest.approx(4 / 7)
  assert m["mean_accuracy"] == pytest.approx((0.5 + 2 / 3 + 0.5) / 3)
  assert m["per_class"][3]["accuracy"] is None
  # An absent class (empty union) is left out of the mean.
  cm5 = metrics.confusion_matrix_np(labels, preds, 5, 255)
  assert metrics.metrics_from_confusion(cm5)["miou"] == pytest.approx(
      m["miou"])
  assert metrics.metrics_from_confusion(cm5)["per_class"][4]["iou"] is None


def test_mean_iou_skips_classes_with_an_empty_union():
  # Rows ground truth, columns prediction; class 2 has no pixel at all.
  cm = np.array([[3, 1, 0], [2, 4, 0], [0, 0, 0]])
  # class 0: 3 / (4 + 5 - 3) = 1/2; class 1: 4 / (6 + 5 - 4) = 4/7.
  assert metrics.mean_iou(cm) == pytest.approx((1 / 2 + 4 / 7) / 2)
  assert metrics.mean_iou(np.zeros((3, 3), np.int64)) == 0.0


def test_trimap_band_by_hand():
  labels = np.zeros((1, 7, 7), np.int32)
  labels[0, 3, :] = 255                       # a void line across the middle
  labels[0, :3, :] = 1
  band1 = boundary.trimap_band(labels, 255, 1).numpy()[0]
  expected = np.zeros((7, 7), bool)
  expected[2, :] = expected[4, :] = True      # one row either side
  np.testing.assert_array_equal(band1, expected)
  np.testing.assert_array_equal(boundary.trimap_band_np(labels[0], 255, 1),
                                expected)
  band2 = boundary.trimap_band(labels, 255, 2).numpy()[0]
  assert band2.sum() == 4 * 7
  # Predictions wrong only far from the boundary: perfect band mIoU.
  preds = labels.copy()
  preds[preds == 255] = 0
  preds[0, 0, :] = 0                          # row 0 is outside width 2
  cms = boundary.trimap_confusions(labels, preds, num_classes=2,
                                   ignore_label=255, widths=(1, 2, 3))
  m1 = metrics.metrics_from_confusion(cms[0].numpy())
  m3 = metrics.metrics_from_confusion(cms[2].numpy())
  assert m1["miou"] == 1.0
  assert m3["miou"] < 1.0
  # Padding outside the image is neither void nor band.
  region = boundary.valid_region_mask(tf.shape(labels), [5], [7])
  padded = labels.copy()
  padded[0, 5:, :] = 255
  band = boundary.trimap_band(padded, 255, 1, region).numpy()[0]
  np.testing.assert_array_equal(band, expected & (np.arange(7) < 5)[:, None])


def test_cityscapes_train_id_to_label_id():
  train_ids = np.array([[0, 1, 18], [255, 10, 13]])
  np.testing.assert_array_equal(cityscapes.train_ids_to_label_ids(train_ids),
                                [[7, 8, 33], [0, 23, 26]])


def test_cityscapes_real_frame_roundtrip():
  root = require(DATA / "cityscapes")
  train_ids = next(root.glob("gtFine/val/*/*_gtFine_labelIds.png"))
  label_ids = np.array(Image.open(train_ids))
  from deeplab_tf.data.cityscapes_labels import label_id_to_train_id_table
  train = label_id_to_train_id_table()[label_ids]
  back = cityscapes.train_ids_to_label_ids(train)
  evaluated = train != 255
  np.testing.assert_array_equal(back[evaluated], label_ids[evaluated])


def test_colorize_and_overlay():
  cmap = [(0, 0, 0), (255, 0, 0)]
  rgb = colorize(np.array([[0, 1, 255]]), cmap)
  np.testing.assert_array_equal(rgb[0], [[0, 0, 0], [255, 0, 0],
                                         [255, 255, 255]])
  image = np.full((1, 3, 3), 100, np.uint8)
  out = overlay(image, np.array([[0, 1, 255]]), cmap, alpha=0.5,
                ignore_label=255)
  np.testing.assert_array_equal(out[0, 2], [100, 100, 100])
  np.testing.assert_array_equal(out[0, 1], [178, 50, 50])
