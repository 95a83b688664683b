"""The official Cityscapes labelId -> trainId table (cityscapesScripts
`labels.py`): 19 evaluated classes, everything else -> 255."""

import numpy as np

# labelId: trainId for the 19 evaluated classes.
LABEL_ID_TO_TRAIN_ID = {
    7: 0,    # road
    8: 1,    # sidewalk
    11: 2,   # building
    12: 3,   # wall
    13: 4,   # fence
    17: 5,   # pole
    19: 6,   # traffic light
    20: 7,   # traffic sign
    21: 8,   # vegetation
    22: 9,   # terrain
    23: 10,  # sky
    24: 11,  # person
    25: 12,  # rider
    26: 13,  # car
    27: 14,  # truck
    28: 15,  # bus
    31: 16,  # train
    32: 17,  # motorcycle
    33: 18,  # bicycle
}


def label_id_to_train_id_table(ignore_label: int = 255) -> np.ndarray:
  """uint8 [256] lookup table: labelId -> trainId (unlisted -> ignore)."""
  table = np.full(256, ignore_label, dtype=np.uint8)
  for label_id, train_id in LABEL_ID_TO_TRAIN_ID.items():
    table[label_id] = train_id
  return table


def train_id_to_label_id_table() -> np.ndarray:
  """uint8 [256] lookup table: trainId -> labelId (for test-server
  submissions; the ignore trainId maps to 0, 'unlabeled')."""
  table = np.zeros(256, dtype=np.uint8)
  for label_id, train_id in LABEL_ID_TO_TRAIN_ID.items():
    table[train_id] = label_id
  return table
