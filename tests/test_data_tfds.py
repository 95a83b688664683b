"""TensorFlow Datasets as input: our records exported with TFDS's writer and
read back by plain TFDS and by our pipeline, a TFDS dataset built by a TFDS
builder from generated images, training + evaluation through `tfds:`, the
named adapters on mock data and on hand-made ids, sharding, and errors."""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from deeplab_tf.data import tfds_adapters as adapters
from deeplab_tf.data import tfds_source
from deeplab_tf.data.builders import build_folder
from deeplab_tf.data.errors import DataError
from deeplab_tf.data.input_pipeline import (build_eval_dataset,
                                            build_train_dataset, decode_example,
                                            list_split_files)
from deeplab_tf.data.tfds_source import TfdsSource
from tests.cli_helpers import assert_one_error, run_cli
from tests.helpers import REPO

tfds = pytest.importorskip("tensorflow_datasets")

CAMVID_TRAIN, CAMVID_VAL = 6, 3


@pytest.fixture(scope="module")
def camvid(tmp_path_factory):
  """A few CamVid images as our TFRecords and, exported, as TFDS."""
  from tests.helpers import DATA, require  # pylint: disable=g-import-not-at-top
  root = require(DATA / "camvid")
  work = tmp_path_factory.mktemp("tfds_camvid")
  lists = {}
  for split, count in (("train", CAMVID_TRAIN), ("val", CAMVID_VAL)):
    lines = (root / ("%s.txt" % split)).read_text().splitlines()[:count]
    lists[split] = str(work / ("%s.txt" % split))
    pathlib.Path(lists[split]).write_text("\n".join(lines) + "\n")
  build_folder(str(root), str(work / "records"), "camvid", split_lists=lists,
               num_shards=2, num_workers=1, verbose=False)
  from deeplab_tf.data.tfds_export import export_to_tfds  # pylint: disable=g-import-not-at-top
  from deeplab_tf.data import get_dataset_descriptor  # pylint: disable=g-import-not-at-top
  export_to_tfds(str(work / "records"), get_dataset_descriptor("camvid"),
                 str(work / "tfds"), name="camvid_test", num_shards=2)
  return work


def _records_by_name(records_dir, split):
  out = {}
  for record in tf.data.TFRecordDataset(list_split_files(records_dir, split)):
    example = decode_example(record)
    out[example["filename"].numpy().decode()] = example
  return out


def test_export_reads_back_with_plain_tfds(camvid):
  builder = tfds.builder("camvid_test", data_dir=str(camvid / "tfds"))
  label_map = builder.info.metadata[adapters.METADATA_LABEL_MAP_KEY]
  assert [c["name"] for c in label_map["classes"]][:3] == [
      "sky", "building", "pole"]
  assert label_map["ignore_label"] == 11
  assert set(builder.info.features) == {"image", "segmentation_mask",
                                        "file_name"}
  assert builder.info.splits["train"].num_examples == CAMVID_TRAIN
  ours = _records_by_name(str(camvid / "records"), "val")
  theirs = tfds.load("camvid_test", split="val", data_dir=str(camvid / "tfds"))
  seen = set()
  for example in theirs:
    name = example["file_name"].numpy().decode()
    seen.add(name)
    np.testing.assert_array_equal(example["image"], ours[name]["image"])
    np.testing.assert_array_equal(example["segmentation_mask"][..., 0],
                                  ours[name]["label"])
  assert seen == set(ours)


def test_eval_pipeline_equals_tfrecord_pipeline(camvid):
  source = TfdsSource("tfds:camvid_test", data_dir=str(camvid / "tfds"))
  assert tfds_source.descriptor_for(source).name == "camvid"
  kwargs = dict(crop_size=(65, 65), batch_size=1, ignore_label=11,
                mean_pixel=127.5)
  ours = {b["filename"].numpy()[0]: b for b in build_eval_dataset(
      str(camvid / "records"), "val", **kwargs)}
  theirs = list(build_eval_dataset(source, "val", **kwargs))
  assert len(theirs) == CAMVID_VAL
  for batch in theirs:
    other = ours[batch["filename"].numpy()[0]]
    for key in ("image", "label", "height", "width"):
      np.testing.assert_array_equal(batch[key], other[key])
  train = build_train_dataset(source, "train[:50%]", crop_size=(65, 65),
                              batch_size=3, ignore_label=11, mean_pixel=127.5,
                              seed=0, repeat=False)
  (batch,) = list(train)
  assert batch["image"].shape == (3, 65, 65, 3)
  assert set(np.unique(batch["label"])) <= set(range(12))


def test_train_and_eval_through_tfds(camvid, tmp_path):
  from deeplab_tf.evaluation import evaluator  # pylint: disable=g-import-not-at-top
  from deeplab_tf.evaluation.resolve import eval_run_from_checkpoint  # pylint: disable=g-import-not-at-top
  from deeplab_tf.training import loop, resolve  # pylint: disable=g-import-not-at-top
  config = resolve.run_config_from_values({
      "dataset": "tfds:camvid_test", "tfds_data_dir": str(camvid / "tfds"),
      "model_variant": "mobilenet_v2", "depth_multiplier": 0.5,
      "train_crop_size": "65,65", "train_batch_size": 2,
      "training_number_of_steps": 2, "train_logdir": str(tmp_path / "run"),
      "save_interval_secs": 1e9, "save_summaries_secs": 1e9, "seed": 0,
      "log_steps": 1, "batch_norm_decay": 0.5})
  assert (config.data.num_classes, config.data.ignore_label) == (11, 11)
  assert config.data.class_names[0] == "sky"
  loop.train(config.replace(model=config.model.replace(
      aspp_convs_filters=16, decoder_filters=16)))
  saved = json.loads((tmp_path / "run" / "deeplab_config.json").read_text())
  assert saved["data"]["tfds"]["name"] == "camvid_test"
  eval_config = eval_run_from_checkpoint(str(tmp_path / "run"),
                                         str(tmp_path / "eval"))
  assert eval_config.data.source == TfdsSource.from_dict(
      saved["data"]["tfds"])
  result = evaluator.run(eval_config)
  assert result["num_images"] == CAMVID_VAL and result["step"] == 2
  # Every labelled pixel of the three 480x360 val labels is scored once.
  labels = [e["label"].numpy() for e in _records_by_name(
      str(camvid / "records"), "val").values()]
  assert np.array(result["confusion_matrix"]).sum() == sum(
      int((l != 11).sum()) for l in labels)


# A TFDS dataset written by a TFDS builder from generated images, with its
# own feature names, stored mask values 0, 1 and 7 (7 = unlabelled), and
# one example per shard.
GENERATED, GENERATED_SHARDS = 4, 4


def _generated_examples():
  for i in range(GENERATED):
    image = np.full((9, 13, 3), 40 * i, np.uint8)
    mask = np.zeros((9, 13, 1), np.uint8)
    mask[:, 6:] = 1
    mask[0] = 7
    yield "ex%d" % i, {"photo": image, "mask": mask, "tag": "ex%d" % i}


class _Generated(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """Generated images with a `photo` / `mask` pair."""
  VERSION = tfds.core.Version("0.1.0")
  name = "deeplab_generated_test"

  def _info(self):
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
        "photo": tfds.features.Image(shape=(None, None, 3)),
        "mask": tfds.features.Image(shape=(None, None, 1)),
        "tag": tfds.features.Text()}))

  def _split_generators(self, dl_manager):
    return {"train": self._generate_examples()}

  def _generate_examples(self):
    yield from _generated_examples()


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
  work = tmp_path_factory.mktemp("tfds_generated")
  _Generated(data_dir=str(work / "tfds")).download_and_prepare(
      download_dir=str(work / "dl"),
      download_config=tfds.download.DownloadConfig(num_shards=GENERATED_SHARDS))
  label_map = work / "two_classes.json"
  label_map.write_text(json.dumps({
      "name": "two", "ignore_label": 255, "remap": {"7": 255},
      "classes": [{"id": 0, "name": "left"}, {"id": 1, "name": "right"}]}))
  return work, TfdsSource(
      "tfds:deeplab_generated_test", data_dir=str(work / "tfds"),
      image_key="photo", label_key="mask", label_map=str(label_map))


def test_generic_dataset_with_keys_and_label_map(generated):
  _, source = generated
  dataset, decode = tfds_source.read_split(source, "train",
                                           shuffle_files=False)
  examples = [decode(e) for e in dataset]
  assert len(examples) == GENERATED
  for example in examples:
    label = example["label"].numpy()
    assert label.shape == (9, 13) and example["image"].shape == (9, 13, 3)
    np.testing.assert_array_equal(label[0], 255)  # stored 7 -> ignore
    np.testing.assert_array_equal(label[1:, :6], 0)
    np.testing.assert_array_equal(label[1:, 6:], 1)
  descriptor = tfds_source.descriptor_for(source)
  assert descriptor.class_names == ("left", "right")
  from deeplab_tf.data.validation import validate_tfds_split  # pylint: disable=g-import-not-at-top
  report = validate_tfds_split(source, "train", descriptor)
  assert report.ok and report.num_records == GENERATED
  assert report.histogram[255] == GENERATED * 13


def test_two_workers_read_disjoint_files(generated):
  _, source = generated
  files, names = [], []
  for worker in range(2):
    context = tf.distribute.InputContext(num_input_pipelines=2,
                                         input_pipeline_id=worker,
                                         num_replicas_in_sync=2)
    dataset, _ = tfds_source.read_split(source, "train", shuffle_files=True,
                                        seed=1, input_context=context)
    ids = {e[tfds_source.TFDS_ID].numpy().decode() for e in dataset}
    files.append({i.split("__")[0] for i in ids})
    names.append(ids)
  assert not files[0] & files[1] and not names[0] & names[1]
  assert len(files[0] | files[1]) == GENERATED_SHARDS
  assert len(names[0] | names[1]) == GENERATED


def test_clear_errors(generated, tmp_path):
  work, source = generated
  with pytest.raises(DataError, match="no_such_dataset_xyz: unknown TFDS"):
    tfds_source.descriptor_for(TfdsSource("tfds:no_such_dataset_xyz",
                                          data_dir=str(work / "tfds")))
  missing = str(tmp_path / "missing")
  with pytest.raises(DataError, match="--tfds_data_dir=%s does not exist.*"
                     "tfds build" % missing):
    tfds_source.descriptor_for(TfdsSource("tfds:oxford_iiit_pet",
                                          data_dir=missing))
  with pytest.raises(DataError, match="oxford_iiit_pet is not prepared in "
                     "%s.*--tfds_download" % tmp_path):
    tfds_source.descriptor_for(TfdsSource("tfds:oxford_iiit_pet",
                                          data_dir=str(tmp_path)))
  with pytest.raises(DataError, match=r"--tfds_label_key=seg: .* no feature "
                     r"'seg' \(its features: mask, photo, tag\)"):
    tfds_source.descriptor_for(TfdsSource(
        "tfds:deeplab_generated_test", data_dir=str(work / "tfds"),
        image_key="photo", label_key="seg", label_map="camvid"))
  with pytest.raises(DataError, match="cannot read split 'nope'.*splits: "
                     "train"):
    tfds_source.read_split(source, "nope", shuffle_files=False)
  with pytest.raises(DataError, match="no class description.*--label_map"):
    tfds_source.descriptor_for(TfdsSource(
        "tfds:deeplab_generated_test", data_dir=str(work / "tfds"),
        image_key="photo", label_key="mask"))
  assert not os.path.exists(missing)  # nothing created or downloaded
  with pytest.raises(ValueError, match="--tfds_data_dir only applies to "
                     "--dataset=tfds:"):
    from deeplab_tf.training import resolve  # pylint: disable=g-import-not-at-top
    resolve.run_config_from_values({"dataset": "camvid",
                                      "dataset_dir": str(tmp_path),
                                      "tfds_data_dir": missing})


def test_cli_error_is_one_line_and_tfds_import_is_lazy(tmp_path):
  missing = str(tmp_path / "nowhere")
  run = run_cli("python -m datasets.validate", "--dataset=tfds:camvid_x",
                "--tfds_data_dir=" + missing, "--split=train")
  line = assert_one_error(run, "python -m datasets.validate", 1)
  assert line.startswith("python -m datasets.validate: error: "
                         "--tfds_data_dir=%s does not exist" % missing)
  lazy = subprocess.run(
      [sys.executable, "-c",
       "import sys, train\n"
       "import deeplab_tf.training.resolve, deeplab_tf.training.loop\n"
       "import deeplab_tf.evaluation.evaluator, deeplab_tf.export.lib\n"
       "import deeplab_tf.data.validation, deeplab_tf.data.tfds_source\n"
       "assert 'tensorflow_datasets' not in sys.modules"],
      cwd=REPO, capture_output=True, text=True, timeout=300)
  assert lazy.returncode == 0, lazy.stderr[-2000:]


# The named adapters on hand-made stored values with known results.
@pytest.mark.parametrize("key,stored,expected", [
    # Cityscapes labelIds: road 7 -> 0, sidewalk 8 -> 1, car 26 -> 13,
    # bicycle 33 -> 18, unlabeled 0 / license plate -1 (255) -> ignore,
    # rail track 10 (not evaluated) -> ignore.
    ("cityscapes/semantic_segmentation", [[7, 8, 26], [0, 33, 10]],
     [[0, 1, 13], [255, 18, 255]]),
    # ADE20K: 0 stays 0, which is the ignore label; classes keep their ids.
    ("scene_parse150", [[0, 1, 150]], [[0, 1, 150]]),
    # Pet trimap: 1 pet -> 1, 2 background -> 0, 3 border -> ignore.
    ("oxford_iiit_pet", [[1, 2, 3], [3, 1, 2]], [[1, 0, 255], [255, 1, 0]]),
])
def test_named_adapters_on_known_ids(key, stored, expected):
  adapter = adapters.NAMED_ADAPTERS[key]
  stored = np.array(stored, np.uint8)
  channels = 3 if adapter.gray_label_channels else 1
  mask = np.repeat(stored[..., np.newaxis], channels, axis=-1)
  image = np.zeros(stored.shape + (3,), np.uint8)
  out = adapter.convert(image, mask, "x")
  np.testing.assert_array_equal(out["label"], np.array(expected, np.uint8))
  ignore = adapter.descriptor.ignore_label
  assert ignore == {"cityscapes/semantic_segmentation": 255,
                    "scene_parse150": 0, "oxford_iiit_pet": 255}[key]


@pytest.mark.parametrize("name,label_key,names", [
    ("cityscapes/semantic_segmentation", "segmentation_label",
     ("road", "sidewalk")),
    ("scene_parse150", "annotation", ("other", "wall")),
    ("oxford_iiit_pet", "segmentation_mask", ("background", "pet")),
])
def test_named_adapters_on_mock_data(name, label_key, names):
  """Each adapter fits the real TFDS builder's features (mocked), and maps
  every stored value, and a mocked random mask, as its table says."""
  expected_map = {
      "cityscapes/semantic_segmentation":
          lambda v: {7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7,
                     21: 8, 22: 9, 23: 10, 24: 11, 25: 12, 26: 13, 27: 14,
                     28: 15, 31: 16, 32: 17, 33: 18}.get(v, 255),
      "scene_parse150": lambda v: v,
      "oxford_iiit_pet": lambda v: {1: 1, 2: 0}.get(v, 255)}[name]
  adapter = adapters.NAMED_ADAPTERS[name]
  # Every stored value, shaped as the TFDS feature stores masks.
  channels = 3 if adapter.gray_label_channels else 1
  masks = [np.repeat(np.arange(256, dtype=np.uint8).reshape(16, 16, 1),
                     channels, axis=-1)]
  with tfds.testing.mock_data(num_examples=1):
    source = TfdsSource("tfds:" + name, download=True)
    descriptor = tfds_source.descriptor_for(source)  # features checked
    assert descriptor.class_names[:2] == names
    if name != "cityscapes/semantic_segmentation":  # 2048x1024 is slow
      masks.append(next(iter(tfds.load(name, split="train", decoders={
          adapter.image_key: tfds.decode.SkipDecoding()})))[label_key].numpy())
  for raw in masks:
    assert raw.shape[-1] == channels
    stored = raw[..., 0]
    converted = adapter.convert(np.zeros(stored.shape + (3,), np.uint8), raw,
                                "mock")
    expected = np.vectorize(expected_map)(stored).astype(np.uint8)
    np.testing.assert_array_equal(converted["label"], expected)


def test_more_pipelines_than_files_shard_examples(camvid):
  """3 pipelines over the 2 files of val: each reads its own examples."""
  source = TfdsSource("tfds:camvid_test", data_dir=str(camvid / "tfds"))
  seen = []
  for worker in range(3):
    context = tf.distribute.InputContext(num_input_pipelines=3,
                                         input_pipeline_id=worker,
                                         num_replicas_in_sync=3)
    dataset, decode = tfds_source.read_split(source, "val",
                                             shuffle_files=False,
                                             input_context=context)
    seen.append({decode(e)["filename"].numpy().decode() for e in dataset})
  assert [len(s) for s in seen] == [1, 1, 1]
  assert set.union(*seen) == set(_records_by_name(str(camvid / "records"),
                                                  "val"))
