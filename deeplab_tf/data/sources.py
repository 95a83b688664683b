"""Finding image/label pairs in the datasets' own directory layouts."""

import glob
import os
from typing import Dict, List, Optional

from deeplab_tf.data.errors import DataError
from deeplab_tf.data.writer import ExampleSource

Splits = Dict[str, List[ExampleSource]]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")


def require_dir(path: str, what: str) -> str:
  if not path or not os.path.isdir(path):
    raise DataError("%s %r does not exist or is not a directory"
                    % (what, path))
  return path


def read_list(path: str) -> List[List[str]]:
  """Non-empty, non-comment lines of a list file, split on whitespace."""
  if not os.path.isfile(path):
    raise DataError("split list %s does not exist" % path)
  with open(path, encoding="utf-8") as f:
    rows = [line.split() for line in f
            if line.strip() and not line.lstrip().startswith("#")]
  if not rows:
    raise DataError("split list %s is empty" % path)
  return rows


def voc_splits(voc_root: str, train_aug_label_dir: Optional[str] = None,
               train_aug_list: Optional[str] = None) -> Splits:
  """Every `ImageSets/Segmentation/<split>.txt` of a VOCdevkit/VOC2012 tree.

  Labels come from `SegmentationClass` (palette PNGs). With
  `train_aug_label_dir` (SBD labels as raw-id or palette PNGs, e.g.
  `SegmentationClassAug`) the `train_aug` split is added too: ids from
  `train_aug_list`, else `ImageSets/Segmentation/train_aug.txt`, else every
  label in the directory that is not in `val`.
  """
  require_dir(voc_root, "--voc_root")
  list_dir = require_dir(os.path.join(voc_root, "ImageSets", "Segmentation"),
                         "VOC split-list directory")
  images = os.path.join(voc_root, "JPEGImages")
  labels = os.path.join(voc_root, "SegmentationClass")
  splits = {}
  for path in sorted(glob.glob(os.path.join(glob.escape(list_dir), "*.txt"))):
    split = os.path.splitext(os.path.basename(path))[0]
    if split == "train_aug" and not train_aug_label_dir:
      continue  # its labels are SBD's, given separately
    label_dir = (train_aug_label_dir if split == "train_aug" else labels)
    splits[split] = [
        ExampleSource(os.path.join(images, row[0] + ".jpg"),
                      os.path.join(label_dir, row[0] + ".png"), row[0])
        for row in read_list(path)]
  if train_aug_label_dir:
    require_dir(train_aug_label_dir, "--train_aug_label_dir")
    if train_aug_list:
      ids = [row[0] for row in read_list(train_aug_list)]
    elif "train_aug" in splits:
      ids = [s.filename for s in splits["train_aug"]]
    else:
      val = {s.filename for s in splits.get("val", [])}
      ids = sorted(
          os.path.splitext(os.path.basename(p))[0]
          for p in glob.glob(os.path.join(glob.escape(train_aug_label_dir),
                                          "*.png")))
      ids = [i for i in ids if i not in val]
    splits["train_aug"] = [
        ExampleSource(os.path.join(images, i + ".jpg"),
                      os.path.join(train_aug_label_dir, i + ".png"), i)
        for i in ids]
  if not splits:
    raise DataError("no split lists (*.txt) in %s" % list_dir)
  return splits


CITYSCAPES_SPLITS = {"train": "train_fine", "val": "val_fine",
                     "test": "test_fine"}


def cityscapes_splits(root: str, label_type: str = "auto",
                      include_coarse: bool = False) -> Splits:
  """`leftImg8bit/<split>/<city>/*_leftImg8bit.png` with gtFine labels.

  Args:
    root: the Cityscapes root (holding leftImg8bit and gtFine).
    label_type: 'labelIds' (converted with the official table),
      'labelTrainIds' (`*_labelTrainIds.png`, used as they are) or 'auto'
      (labelTrainIds when present, else labelIds); each ExampleSource's
      label path tells which, by its suffix.
    include_coarse: also build `train_coarse` from gtCoarse
      (train + train_extra).
  """
  require_dir(os.path.join(root, "leftImg8bit"), "Cityscapes leftImg8bit")
  require_dir(os.path.join(root, "gtFine"), "Cityscapes gtFine")
  plan = [(s, "gtFine", name) for s, name in CITYSCAPES_SPLITS.items()]
  if include_coarse:
    plan += [("train", "gtCoarse", "train_coarse"),
             ("train_extra", "gtCoarse", "train_coarse")]
  splits = {}
  for split, gt, name in plan:
    pattern = os.path.join(glob.escape(root), "leftImg8bit", split, "*",
                           "*_leftImg8bit.png")
    for image in sorted(glob.glob(pattern)):
      city = os.path.basename(os.path.dirname(image))
      stem = os.path.basename(image)[:-len("_leftImg8bit.png")]
      base = os.path.join(root, gt, split, city, "%s_%s_" % (stem, gt))
      train_ids, label_ids = base + "labelTrainIds.png", base + "labelIds.png"
      if label_type == "labelTrainIds" or (
          label_type == "auto" and os.path.isfile(train_ids)):
        label = train_ids
      elif label_type in ("labelIds", "auto"):
        label = label_ids
      else:
        raise DataError("unknown Cityscapes label type %r" % label_type)
      splits.setdefault(name, []).append(
          ExampleSource(image, label, stem + "_leftImg8bit"))
  if not splits:
    raise DataError("no *_leftImg8bit.png images under %s/leftImg8bit"
                    % root)
  return splits


ADE20K_SPLITS = {"training": "train", "validation": "val"}


def ade20k_splits(root: str, flat_split: str = "train") -> Splits:
  """`images/<training|validation>/*.jpg` + `annotations/.../*.png`, or a
  flat `images/` + `annotations/` pair built as `flat_split`."""
  images = require_dir(os.path.join(root, "images"), "ADE20K images dir")
  annotations = require_dir(os.path.join(root, "annotations"),
                            "ADE20K annotations dir")
  layout = {split: (os.path.join(images, sub), os.path.join(annotations, sub))
            for sub, split in ADE20K_SPLITS.items()
            if os.path.isdir(os.path.join(images, sub))}
  if not layout:
    layout = {flat_split: (images, annotations)}
  return {split: paired_by_stem(image_dir, label_dir)
          for split, (image_dir, label_dir) in layout.items()}


def paired_by_stem(image_dir: str, label_dir: str,
                   label_suffix: str = ".png") -> List[ExampleSource]:
  """Every image in `image_dir` with `<stem><label_suffix>` in `label_dir`."""
  require_dir(image_dir, "image directory")
  require_dir(label_dir, "label directory")
  sources = []
  for name in sorted(os.listdir(image_dir)):
    stem, ext = os.path.splitext(name)
    if ext.lower() in IMAGE_EXTENSIONS:
      sources.append(ExampleSource(os.path.join(image_dir, name),
                                   os.path.join(label_dir, stem + label_suffix),
                                   stem))
  return sources


def folder_split(root: str, list_file: Optional[str] = None,
                 image_dir: Optional[str] = None,
                 label_dir: Optional[str] = None,
                 label_suffix: str = ".png") -> List[ExampleSource]:
  """One split of a generic image + mask folder.

  A list file has one example per line: `image label` or a bare stem
  resolved in `image_dir` / `label_dir`. Paths are relative to `root`;
  absolute ones or ones with a foreign prefix (SegNet's own CamVid lists
  read `/SegNet/CamVid/train/x.png`) resolve by `resolve_list_path`.
  Without a list, every image in `image_dir` is paired with the same-stem
  mask in `label_dir`.
  """
  require_dir(root, "--root")
  if list_file is None:
    return paired_by_stem(os.path.join(root, image_dir or "images"),
                          os.path.join(root, label_dir or "masks"),
                          label_suffix)
  if not os.path.isabs(list_file) and not os.path.isfile(list_file):
    list_file = os.path.join(root, list_file)
  sources, unresolved = [], []
  for number, row in enumerate(read_list(list_file), start=1):
    if len(row) >= 2:
      try:
        image, label = (resolve_list_path(root, row[0]),
                        resolve_list_path(root, row[1]))
      except DataError as e:
        unresolved.append("line %d: %s" % (number, e))
        continue
    else:
      stem = row[0]
      image = _find_image(os.path.join(root, image_dir or "images"), stem)
      label = os.path.join(root, label_dir or "masks", stem + label_suffix)
    sources.append(ExampleSource(
        image, label, os.path.splitext(os.path.basename(image))[0]))
  if unresolved:
    more = len(unresolved) - 5
    raise DataError("%s: %d line(s) name files not found under --root %s:\n"
                    "  %s%s" % (list_file, len(unresolved), root,
                                "\n  ".join(unresolved[:5]),
                                "\n  ... and %d more" % more if more > 0
                                else ""))
  return sources


def resolve_list_path(root: str, path: str) -> str:
  """A list file's path as a file under `root`.

  Tried in order: `root/path` (the relative form), then the path's ever
  shorter suffixes under `root` (`/SegNet/CamVid/train/x.png` under
  `root=.../CamVid` is `root/train/x.png`: the longest suffix that exists
  wins), then `path` itself if it is an existing absolute path. Raises a
  DataError naming every candidate tried.
  """
  parts = [p for p in path.replace("\\", "/").split("/")
           if p not in ("", ".")]
  tried = []
  for start in range(len(parts)):
    candidate = os.path.join(root, *parts[start:])
    if os.path.isfile(candidate):
      return candidate
    tried.append(candidate)
  if os.path.isabs(path) and os.path.isfile(path):
    return path
  raise DataError("%s not found; tried %s%s" % (
      path, ", ".join(tried), " and %s itself" % path if os.path.isabs(path)
      else ""))


def _find_image(directory: str, stem: str) -> str:
  for ext in IMAGE_EXTENSIONS:
    path = os.path.join(directory, stem + ext)
    if os.path.isfile(path):
      return path
  return os.path.join(directory, stem + ".jpg")  # reported as missing later
