"""Cityscapes trainId -> labelId conversion for test-server submissions."""

import numpy as np

from deeplab_tf.data.cityscapes_labels import train_id_to_label_id_table


def train_ids_to_label_ids(train_ids) -> np.ndarray:
  """uint8 labelIds of trainId predictions (19 classes; others -> 0)."""
  table = train_id_to_label_id_table()
  return table[np.clip(np.asarray(train_ids).astype(np.int64), 0, 255)]
