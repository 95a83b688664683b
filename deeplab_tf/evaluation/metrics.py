"""Confusion-matrix segmentation metrics.

One confusion matrix is accumulated over the whole split (rows: ground
truth, columns: prediction), never per-batch averages. Pixels labelled with
the ignore label (or any value outside [0, num_classes)) do not count.
mIoU is the mean IoU over classes whose union (ground truth + prediction)
is non-empty, like the reference's `tf.metrics.mean_iou`.
"""

from typing import Dict, Optional, Sequence

import numpy as np
import tensorflow as tf


def confusion_matrix(labels, predictions, num_classes: int,
                     ignore_label: int, mask=None):
  """int64 [C, C] confusion matrix of one batch (TF, any shape).

  Args:
    labels: int ground truth.
    predictions: int predictions of the same shape.
    num_classes: C.
    ignore_label: label value to skip.
    mask: optional bool of the same shape; only True pixels count.
  """
  labels = tf.reshape(tf.cast(labels, tf.int64), [-1])
  predictions = tf.reshape(tf.cast(predictions, tf.int64), [-1])
  valid = tf.logical_and(tf.not_equal(labels, ignore_label),
                         tf.logical_and(labels >= 0, labels < num_classes))
  if mask is not None:
    valid = tf.logical_and(valid, tf.reshape(mask, [-1]))
  labels = tf.boolean_mask(labels, valid)
  predictions = tf.clip_by_value(tf.boolean_mask(predictions, valid), 0,
                                 num_classes - 1)
  index = labels * num_classes + predictions
  counts = tf.math.bincount(index, minlength=num_classes * num_classes,
                            maxlength=num_classes * num_classes,
                            dtype=tf.int64)
  return tf.reshape(counts, [num_classes, num_classes])


def confusion_matrix_np(labels, predictions, num_classes: int,
                        ignore_label: int) -> np.ndarray:
  """NumPy twin of `confusion_matrix` (for files read from disk)."""
  labels = np.asarray(labels).astype(np.int64).ravel()
  predictions = np.asarray(predictions).astype(np.int64).ravel()
  valid = (labels != ignore_label) & (labels >= 0) & (labels < num_classes)
  predictions = np.clip(predictions[valid], 0, num_classes - 1)
  index = labels[valid] * num_classes + predictions
  return np.bincount(index, minlength=num_classes * num_classes).reshape(
      num_classes, num_classes)


def mean_iou(cm) -> float:
  """Mean IoU over the classes whose union (ground truth + prediction) is
  non-empty; 0.0 when no class has any pixel."""
  cm = np.asarray(cm, np.float64)
  tp = np.diag(cm)
  union = cm.sum(axis=0) + cm.sum(axis=1) - tp
  present = union > 0
  return float(np.mean(tp[present] / union[present])) if present.any() else 0.0


def metrics_from_confusion(cm, class_names: Optional[Sequence[str]] = None
                           ) -> Dict:
  """mIoU, per-class IoU, pixel accuracy and mean accuracy.

  Args:
    cm: [C, C] counts, rows ground truth, columns prediction.
    class_names: optional names for the per-class list.
  Returns:
    {"miou", "pixel_accuracy", "mean_accuracy", "num_pixels",
     "num_classes_present", "per_class": [{"id", "name", "iou",
     "accuracy", "gt_pixels", "pred_pixels"}]}; a class with an empty union
    has iou None and is left out of the mean (accuracy likewise for classes
    with no ground truth).
  """
  cm = np.asarray(cm, np.float64)
  num_classes = cm.shape[0]
  tp = np.diag(cm)
  gt = cm.sum(axis=1)
  pred = cm.sum(axis=0)
  union = gt + pred - tp
  present = union > 0
  iou = np.where(present, tp / np.maximum(union, 1), np.nan)
  acc = np.where(gt > 0, tp / np.maximum(gt, 1), np.nan)
  total = cm.sum()
  names = list(class_names) if class_names else [
      str(i) for i in range(num_classes)]
  per_class = [{"id": i, "name": names[i] if i < len(names) else str(i),
                "iou": None if np.isnan(iou[i]) else float(iou[i]),
                "accuracy": None if np.isnan(acc[i]) else float(acc[i]),
                "gt_pixels": int(gt[i]), "pred_pixels": int(pred[i])}
               for i in range(num_classes)]
  return {
      "miou": mean_iou(cm),
      "pixel_accuracy": float(tp.sum() / total) if total else 0.0,
      "mean_accuracy": float(np.nanmean(acc)) if (gt > 0).any() else 0.0,
      "num_pixels": int(total),
      "num_classes_present": int(present.sum()),
      "per_class": per_class,
  }


def format_metrics(metrics: Dict, title: str = "") -> str:
  """A readable table of `metrics_from_confusion` output."""
  lines = []
  if title:
    lines.append(title)
  lines.append("mIoU %.4f   pixel accuracy %.4f   mean accuracy %.4f   "
               "(%d pixels, %d classes present)"
               % (metrics["miou"], metrics["pixel_accuracy"],
                  metrics["mean_accuracy"], metrics["num_pixels"],
                  metrics["num_classes_present"]))
  for c in metrics["per_class"]:
    iou = "   -  " if c["iou"] is None else "%.4f" % c["iou"]
    lines.append("  %3d %-24s IoU %s" % (c["id"], c["name"][:24], iou))
  return "\n".join(lines)
