"""One function per supported source layout: find pairs, encode, write.

The command-line builders in `datasets/` only parse flags and call these.
"""

from typing import Dict, Optional, Sequence

from deeplab_tf.data import sources
from deeplab_tf.data.encode_splits import Encoder, build_splits
from deeplab_tf.data.cityscapes_labels import label_id_to_train_id_table
from deeplab_tf.data.descriptor import DatasetDescriptor
from deeplab_tf.data.errors import DataError
from deeplab_tf.data.registry import get_dataset_descriptor


def build_voc2012(voc_root: str, output_dir: str, *,
                  train_aug_label_dir: Optional[str] = None,
                  train_aug_list: Optional[str] = None, num_shards: int = 4,
                  num_workers: Optional[int] = None, verbose: bool = True):
  """Every split of `ImageSets/Segmentation` (+ SBD train_aug if given)."""
  splits = sources.voc_splits(voc_root, train_aug_label_dir, train_aug_list)
  return build_splits(output_dir, get_dataset_descriptor("pascal_voc_seg"),
                      splits, num_shards=num_shards, num_workers=num_workers,
                      verbose=verbose)


def build_cityscapes(cityscapes_root: str, output_dir: str, *,
                     label_type: str = "auto", include_coarse: bool = False,
                     num_shards: int = 10, num_workers: Optional[int] = None,
                     verbose: bool = True):
  """train_fine / val_fine / test_fine (and train_coarse) in trainIds."""
  descriptor = get_dataset_descriptor("cityscapes")
  splits = sources.cityscapes_splits(cityscapes_root, label_type,
                                     include_coarse)
  table = label_id_to_train_id_table(descriptor.ignore_label)
  encoder = Encoder(descriptor, "auto", id_maps=(("_labelIds.png", table),))
  return build_splits(output_dir, descriptor, splits, encoder,
                      num_shards=num_shards, num_workers=num_workers,
                      verbose=verbose)


def build_ade20k(ade20k_root: str, output_dir: str, *,
                 flat_split: str = "train", num_shards: int = 4,
                 num_workers: Optional[int] = None, verbose: bool = True):
  """train / val from images/ + annotations/ (0 = other = ignore kept)."""
  splits = sources.ade20k_splits(ade20k_root, flat_split)
  return build_splits(output_dir, get_dataset_descriptor("ade20k"), splits,
                      num_shards=num_shards, num_workers=num_workers,
                      verbose=verbose)


def build_folder(root: str, output_dir: str, dataset, *,
                 split_lists: Optional[Dict[str, str]] = None,
                 split: str = "train", image_dir: str = "images",
                 mask_dir: str = "masks", mask_suffix: str = ".png",
                 mask_format: str = "auto", num_shards: int = 4,
                 num_workers: Optional[int] = None, verbose: bool = True):
  """A generic image + mask folder; see `sources.folder_split`.

  Args:
    root: dataset root.
    output_dir: where the records go.
    dataset: a DatasetDescriptor, built-in name or label-map path.
    split_lists: {split: list file}; without it, one split `split` of
      every image in `image_dir` with its same-stem mask in `mask_dir`.
    mask_format: 'auto', 'raw', 'palette' or 'rgb'.
  """
  descriptor = (dataset if isinstance(dataset, DatasetDescriptor)
                else get_dataset_descriptor(dataset))
  if split_lists:
    splits = {name: sources.folder_split(root, path, image_dir, mask_dir,
                                         mask_suffix)
              for name, path in split_lists.items()}
  else:
    splits = {split: sources.folder_split(root, None, image_dir, mask_dir,
                                          mask_suffix)}
  return build_splits(output_dir, descriptor, splits,
                      Encoder(descriptor, mask_format),
                      num_shards=num_shards, num_workers=num_workers,
                      verbose=verbose)


def parse_split_lists(items: Sequence[str]) -> Dict[str, str]:
  """['train=train.txt', ...] -> {'train': 'train.txt', ...}."""
  lists = {}
  for item in items:
    name, sep, path = item.partition("=")
    if not sep or not name or not path:
      raise DataError("split lists are split=list_file, got %r" % item)
    lists[name] = path
  return lists
