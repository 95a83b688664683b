"""Builders on the real fixtures in ../shared/data: labels must round-trip
exactly through the reference TFRecord schema."""

import os
import subprocess
import sys

import numpy as np
import tensorflow as tf
from PIL import Image

from deeplab_tf.data import get_dataset_descriptor
from deeplab_tf.data import tfrecord_schema as schema
from deeplab_tf.data.builders import (build_ade20k, build_cityscapes,
                                      build_folder, build_voc2012)
from deeplab_tf.data.input_pipeline import decode_example
from deeplab_tf.data.validation import validate_split
from tests.helpers import REPO

# The official Cityscapes table, written out independently of the library.
OFFICIAL_TRAIN_IDS = {7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7,
                      21: 8, 22: 9, 23: 10, 24: 11, 25: 12, 26: 13, 27: 14,
                      28: 15, 31: 16, 32: 17, 33: 18}


def read_records(dataset_dir, split):
  """{filename: (image uint8, label uint8, raw features)} of a split."""
  out = {}
  for path in schema.split_files(str(dataset_dir), split):
    for record in tf.data.TFRecordDataset(path):
      ex = decode_example(record)
      features = tf.io.parse_single_example(record, schema.FEATURE_SPEC)
      out[ex["filename"].numpy().decode()] = (
          ex["image"].numpy(), ex["label"].numpy(),
          {k: v.numpy() for k, v in features.items()})
  return out


def test_voc_labels_are_exactly_the_palette_indices(data_dir, tmp_path):
  root = data_dir / "voc/VOCdevkit/VOC2012"
  results = build_voc2012(str(root), str(tmp_path), num_workers=2,
                          verbose=False)
  assert set(results) == {"train", "val", "trainval"}
  assert len(schema.split_files(str(tmp_path), "train")) == 4
  for split in results:
    ids = (root / "ImageSets/Segmentation" / (split + ".txt")).read_text()
    records = read_records(tmp_path, split)
    assert sorted(records) == sorted(ids.split())
  seen_void = False
  for name, (image, label, features) in read_records(tmp_path,
                                                     "trainval").items():
    palette = np.asarray(Image.open(root / "SegmentationClass" /
                                    (name + ".png")))
    np.testing.assert_array_equal(label, palette)
    seen_void |= bool((label == 255).any())
    jpeg = (root / "JPEGImages" / (name + ".jpg")).read_bytes()
    assert features[schema.IMAGE_ENCODED] == jpeg  # stored byte for byte
    assert features[schema.IMAGE_FORMAT] == b"jpeg"
    assert (features[schema.IMAGE_HEIGHT], features[schema.IMAGE_WIDTH]) == (
        image.shape[0], image.shape[1])
  assert seen_void
  assert validate_split(str(tmp_path), "val",
                        get_dataset_descriptor("pascal_voc_seg")).ok


def test_voc_train_aug_from_sbd_labels(data_dir, tmp_path):
  root = data_dir / "voc/VOCdevkit/VOC2012"
  aug = tmp_path / "SegmentationClassAug"
  aug.mkdir()
  for name in ("labelme_2011_000003", "vainf_d1182fc_000"):
    ids = np.asarray(Image.open(root / "SegmentationClass" / (name + ".png")))
    Image.fromarray(ids, mode="L").save(aug / (name + ".png"))  # raw ids
  build_voc2012(str(root), str(tmp_path / "out"), train_aug_label_dir=str(aug),
                num_workers=1, verbose=False)
  records = read_records(tmp_path / "out", "train_aug")
  assert sorted(records) == ["labelme_2011_000003"]  # val ids are excluded


def test_voc_cli(data_dir, tmp_path):
  root = data_dir / "voc/VOCdevkit/VOC2012"
  result = subprocess.run(
      [sys.executable, "-m", "datasets.build_voc2012_data",
       "--voc_root=%s" % root, "--output_dir=%s" % tmp_path,
       "--num_workers=1"], cwd=REPO, capture_output=True, text=True,
      check=False)
  assert result.returncode == 0, result.stderr[-2000:]
  assert len(read_records(tmp_path, "val")) == 7
  assert get_dataset_descriptor(str(tmp_path)).splits_to_sizes == {
      "train": 4, "trainval": 11, "val": 7}


def test_cityscapes_label_ids_to_train_ids(data_dir, tmp_path):
  root = data_dir / "cityscapes"
  build_cityscapes(str(root), str(tmp_path), label_type="labelIds",
                   num_workers=1, verbose=False)
  records = read_records(tmp_path, "val_fine")
  assert list(records) == ["frankfurt_000000_000294_leftImg8bit"]
  _, label, _ = records["frankfurt_000000_000294_leftImg8bit"]
  gt = root / "gtFine/val/frankfurt/frankfurt_000000_000294_gtFine_"
  label_ids = np.asarray(Image.open(str(gt) + "labelIds.png"))
  expected = np.full_like(label_ids, 255)
  for label_id, train_id in OFFICIAL_TRAIN_IDS.items():
    expected[label_ids == label_id] = train_id
  np.testing.assert_array_equal(label, expected)
  assert set(np.unique(label)) - {255} <= set(range(19))
  # The shipped trainIds file was downscaled separately: 77 pixels differ.
  shipped = np.asarray(Image.open(str(gt) + "labelTrainIds.png"))
  assert int((shipped != label).sum()) == 77


def test_cityscapes_prefers_train_ids_files_when_present(data_dir, tmp_path):
  root = data_dir / "cityscapes"
  build_cityscapes(str(root), str(tmp_path), num_workers=1, verbose=False)
  (_, label, _), = read_records(tmp_path, "val_fine").values()
  shipped = np.asarray(Image.open(
      root / "gtFine/val/frankfurt/"
      "frankfurt_000000_000294_gtFine_labelTrainIds.png"))
  np.testing.assert_array_equal(label, shipped)


def test_ade20k_ignore_label_zero(data_dir, tmp_path):
  root = data_dir / "ade20k/sampleData"
  build_ade20k(str(root), str(tmp_path), flat_split="val", num_workers=1,
               verbose=False)
  records = read_records(tmp_path, "val")
  assert sorted(records) == ["ADE_val_00000001", "ADE_val_00000002",
                             "ADE_val_00000003"]
  for name, (_, label, features) in records.items():
    annotation = np.asarray(Image.open(root / "annotations" / (name + ".png")))
    np.testing.assert_array_equal(label, annotation)
    assert features[schema.IMAGE_FORMAT] == b"jpeg"  # not the 'png' quirk
  ade = get_dataset_descriptor("ade20k")
  report = validate_split(str(tmp_path), "val", ade)
  assert report.ok and report.histogram[0] > 0
  assert report.class_pixels()[0] == 0 and report.class_weights()[0] == 0


def test_camvid_void_through_folder_builder(data_dir, tmp_path):
  root = data_dir / "camvid"
  lines = (root / "train.txt").read_text().splitlines()[:3]
  (tmp_path / "small.txt").write_text("\n".join(lines) + "\n")
  build_folder(str(root), str(tmp_path / "out"), "camvid",
               split_lists={"train": str(tmp_path / "small.txt")},
               num_workers=1, verbose=False)
  records = read_records(tmp_path / "out", "train")
  assert len(records) == 3
  saw_void = False
  for line in lines:
    image_path, label_path = line.split()
    name = os.path.splitext(os.path.basename(image_path))[0]
    image, label, _ = records[name]
    np.testing.assert_array_equal(label,
                                  np.asarray(Image.open(root / label_path)))
    np.testing.assert_array_equal(image,
                                  np.asarray(Image.open(root / image_path)))
    saw_void |= bool((label == 11).any())
  assert saw_void
  report = validate_split(str(tmp_path / "out"), "train",
                          get_dataset_descriptor("camvid"))
  assert report.ok and report.histogram[11] > 0
  assert report.class_weights().shape == (11,)


def test_rgb_masks_through_a_label_map(data_dir, tmp_path):
  """CamVid's raw ids painted with its palette read back as the same ids."""
  root = data_dir / "camvid"
  camvid = get_dataset_descriptor("camvid")
  colors = np.array(camvid.colormap + (camvid.ignore_color,), np.uint8)
  (tmp_path / "images").mkdir()
  (tmp_path / "masks").mkdir()
  ids = np.asarray(Image.open(root / "trainannot/0001TP_006690.png"))
  Image.open(root / "train/0001TP_006690.png").save(
      tmp_path / "images/a.png")
  Image.fromarray(colors[ids]).save(tmp_path / "masks/a.png")
  build_folder(str(tmp_path), str(tmp_path / "out"), "camvid",
               mask_format="rgb", num_workers=1, verbose=False)
  (_, label, _), = read_records(tmp_path / "out", "train").values()
  np.testing.assert_array_equal(label, ids)


def test_parallel_build_equals_serial(data_dir, tmp_path):
  root = data_dir / "voc/VOCdevkit/VOC2012"
  build_voc2012(str(root), str(tmp_path / "a"), num_workers=1, verbose=False)
  build_voc2012(str(root), str(tmp_path / "b"), num_workers=2, verbose=False)
  for name in sorted(os.listdir(tmp_path / "a")):
    assert ((tmp_path / "a" / name).read_bytes()
            == (tmp_path / "b" / name).read_bytes()), name
