"""Dataset descriptors and label-map files."""

import json

import pytest

from deeplab_tf.data import (BUILTIN_DESCRIPTORS, DataError,
                             get_dataset_descriptor, write_label_map)


@pytest.mark.parametrize("name,num_classes,ignore", [
    ("pascal_voc_seg", 21, 255), ("cityscapes", 19, 255), ("ade20k", 151, 0),
    ("camvid", 11, 11), ("synthetic", 5, 255)])
def test_builtin(name, num_classes, ignore):
  d = get_dataset_descriptor(name)
  assert (d.name, d.num_classes, d.ignore_label) == (name, num_classes, ignore)
  assert len(d.class_names) == len(d.colormap) == num_classes
  assert len(set(d.colormap)) == num_classes


def test_reference_split_sizes():
  assert BUILTIN_DESCRIPTORS["pascal_voc_seg"].splits_to_sizes == {
      "train": 1464, "train_aug": 10582, "trainval": 2913, "val": 1449}
  assert BUILTIN_DESCRIPTORS["cityscapes"].splits_to_sizes["train_fine"] == 2975
  assert BUILTIN_DESCRIPTORS["ade20k"].splits_to_sizes == {
      "train": 20210, "val": 2000}


def test_voc_colormap_matches_the_official_palette():
  colormap = get_dataset_descriptor("pascal_voc_seg").colormap
  assert colormap[:4] == ((0, 0, 0), (128, 0, 0), (0, 128, 0), (128, 128, 0))
  assert colormap[15] == (192, 128, 128)  # person


def test_ignore_label_semantics():
  ade = get_dataset_descriptor("ade20k")
  assert ade.ignore_is_class and ade.valid_label(0) and not ade.valid_label(151)
  camvid = get_dataset_descriptor("camvid")
  assert camvid.valid_label(11) and not camvid.valid_label(12)
  voc = get_dataset_descriptor("pascal_voc_seg")
  assert voc.valid_label(255) and not voc.valid_label(21)


def test_json_label_map(tmp_path):
  path = tmp_path / "roads.json"
  path.write_text(json.dumps({
      "ignore_label": 255, "ignore_color": [0, 0, 0],
      "classes": [{"id": 1, "name": "car", "color": [0, 0, 142]},
                  {"id": 0, "name": "road", "color": [128, 64, 128]}],
      "splits": {"train": 3}}))
  d = get_dataset_descriptor(str(path))
  assert d.name == "roads" and d.num_classes == 2
  assert d.class_names == ("road", "car")
  assert d.color_to_id() == {(128, 64, 128): 0, (0, 0, 142): 1,
                             (0, 0, 0): 255}
  assert d.splits_to_sizes == {"train": 3}


def test_text_label_map_and_round_trip(tmp_path):
  path = tmp_path / "fields.txt"
  path.write_text("# id, name, r, g, b\n0, soil, 10, 20, 30\n"
                  "1, crop, 0, 200, 0\nignore, 255\nsplit, train, 5\n")
  d = get_dataset_descriptor(str(path))
  assert (d.name, d.num_classes, d.ignore_label) == ("fields", 2, 255)
  assert d.colormap == ((10, 20, 30), (0, 200, 0))
  out = write_label_map(d, str(tmp_path / "copy.json"))
  again = get_dataset_descriptor(out)
  assert again.class_names == d.class_names and again.colormap == d.colormap
  # A dataset directory with label_map.json describes itself.
  write_label_map(d, str(tmp_path / "label_map.json"))
  assert get_dataset_descriptor(str(tmp_path)).num_classes == 2


@pytest.mark.parametrize("text,message", [
    ("0, a\n2, b\nignore, 255\n", "class ids must be 0 .. 1"),
    ("0, a\n1, b\n", "no 'ignore, <id>' line"),
    ("0, a, 1, 2, 3\n1, b\nignore, 255\n", "every class or for none"),
    ("0, a, 1, 2, 3\n1, b, 1, 2, 3\nignore, 255\n", "duplicate colours"),
    ("0, a, 1, 2\nignore, 255\n", "three integers"),
    ("zero, a\nignore, 255\n", "cannot parse"),
])
def test_bad_label_maps_are_refused(tmp_path, text, message):
  path = tmp_path / "bad.txt"
  path.write_text(text)
  with pytest.raises(DataError, match=message):
    get_dataset_descriptor(str(path))


def test_unknown_name():
  with pytest.raises(DataError, match="unknown dataset 'pascal'"):
    get_dataset_descriptor("pascal")
