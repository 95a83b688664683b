"""deeplab_tf.run_config: one RunConfig tree (model, data, train) that
deeplab_config.json format 2 stores once, and run directories written by
earlier mains that still load, evaluate and export.

Two files earlier mains wrote for a tiny MobileNetV2 run on pascal_voc_seg,
kept byte for byte:
  * tests/data/deeplab_config_format1.json: format 1 (before 2026-11-30),
    the data under "dataset", the model, classes and augmentation repeated
    inside "train";
  * tests/data/deeplab_config_format2_crop_in_model.json: format 2 as first
    written (2026-11-30), the crop inside "model" and the augmentation
    inside "train".
"""

import json
import pathlib
import shutil

import keras
import pytest
import tensorflow as tf

from deeplab_tf import run_config
from deeplab_tf.config import ModelOptions
from deeplab_tf.data import get_dataset_descriptor
from deeplab_tf.model import build_model

FIXTURES = pathlib.Path(__file__).parent / "data"
FORMAT1 = FIXTURES / "deeplab_config_format1.json"
FORMAT2_CROP_IN_MODEL = FIXTURES / "deeplab_config_format2_crop_in_model.json"
# The settings format 1 kept in "train" that are data (or the model).
DATA_IN_FORMAT1_TRAIN = {"model", "dataset", "dataset_dir", "ignore_label",
                         "class_names", "colormap", "train_split",
                         "min_scale_factor", "max_scale_factor",
                         "scale_factor_step_size", "min_resize_value",
                         "max_resize_value", "tfds_data_dir",
                         "tfds_download", "tfds_image_key", "tfds_label_key",
                         "label_map"}


def _old_run(directory: pathlib.Path, fixture=FORMAT1) -> ModelOptions:
  """An old run directory: the old file plus a ckpt-12 of its model."""
  directory.mkdir(parents=True, exist_ok=True)
  shutil.copy(fixture, directory / run_config.CONFIG_FILENAME)
  model = dict(json.loads(fixture.read_text())["model"])
  del model["crop_size"]
  opts = ModelOptions.from_dict(model)
  keras.utils.set_random_seed(3)
  tf.train.CheckpointManager(
      tf.train.Checkpoint(model=build_model(opts)), str(directory),
      max_to_keep=1).save(checkpoint_number=12)
  return opts


@pytest.mark.parametrize("fixture", [FORMAT1, FORMAT2_CROP_IN_MODEL])
def test_older_files_load_into_the_tree(tmp_path, fixture):
  old = json.loads(FORMAT1.read_text())
  shutil.copy(fixture, tmp_path / run_config.CONFIG_FILENAME)
  run = run_config.load_run_config(str(tmp_path))
  voc = get_dataset_descriptor("pascal_voc_seg")
  assert (run.model.model_variant, run.model.depth_multiplier,
          run.model.num_classes, run.model.atrous_rates,
          run.model.decoder_output_stride) == ("mobilenet_v2", 0.5, 21, None,
                                               4)
  assert run.data.crop_size == (129, 129)
  assert run.data.name == "pascal_voc_seg"
  assert run.data.class_names == voc.class_names
  assert run.data.colormap == voc.colormap
  assert (run.data.num_classes, run.data.ignore_label) == (21, 255)
  assert run.data.dataset_dir == old["dataset"]["dataset_dir"]
  augmentation = run.data.augmentation
  assert (augmentation.min_scale_factor, augmentation.max_scale_factor,
          augmentation.scale_factor_step_size) == (
              old["train"]["min_scale_factor"],
              old["train"]["max_scale_factor"],
              old["train"]["scale_factor_step_size"])
  assert run.train.training_number_of_steps == 12
  assert run.train.train_batch_size == 4
  assert run.train.to_dict() == {k: v for k, v in old["train"].items()
                                 if k not in DATA_IN_FORMAT1_TRAIN}
  assert run.origin is None


def test_format2_stores_each_thing_once_and_reads_back(tmp_path):
  shutil.copy(FORMAT1, tmp_path / run_config.CONFIG_FILENAME)
  run = run_config.load_run_config(str(tmp_path))
  run_config.save_run_config(str(tmp_path), run)
  text = (tmp_path / run_config.CONFIG_FILENAME).read_text()
  doc = json.loads(text)
  assert doc["format_version"] == 2
  assert set(doc) == {"format_version", "model", "data", "train"}
  # Format 1 held the class names twice, the model twice, and the crop in
  # the model; format 2 holds each once, the crop with the data.
  old = json.loads(FORMAT1.read_text())
  assert old["train"]["class_names"] == old["dataset"]["class_names"]
  assert text.count('"aeroplane"') == 1
  assert text.count('"model_variant"') == 1
  assert text.count('"crop_size"') == 1 and "crop_size" in doc["data"]
  assert text.count('"min_scale_factor"') == 1
  assert not DATA_IN_FORMAT1_TRAIN & set(doc["train"])
  assert run_config.load_run_config(str(tmp_path)) == run


def test_the_tree_checks_its_sections_against_each_other():
  from tests.helpers import tiny_data, tiny_options, tiny_run  # pylint: disable=g-import-not-at-top
  with pytest.raises(ValueError, match="the model has 3 classes but dataset "
                     "pascal_voc_seg has 21"):
    tiny_run(tiny_options(3), tiny_data(name="pascal_voc_seg"))
  with pytest.raises(ValueError, match=r"--train_crop_size=9,9 is smaller "
                     r"than --output_stride=16"):
    tiny_run(tiny_options(3), tiny_data(3, crop=9), train_batch_size=2)
  with pytest.raises(ValueError, match="--label_weights has 2 values but "
                     "the dataset has 3 classes"):
    tiny_run(tiny_options(3), tiny_data(3), label_weights=(1.0, 2.0))
  paper = ModelOptions(num_classes=3)  # rates 6/12/18 at output stride 16
  with pytest.raises(ValueError, match=r"atrous_rates=\(6, 12, 18\) do not "
                     r"fit output_stride=16: at --train_crop_size=65,65 the "
                     r"feature map is 5 pixels"):
    tiny_run(paper, tiny_data(3, crop=65), train_batch_size=2)


@pytest.mark.parametrize("doc, message", [
    ({"format_version": 3, "model": {}},
     "format_version 3, but this deeplab_tf reads versions 1, 2: .*upgrade"),
    ([1, 2], "is not a deeplab_tf run configuration"),
    ({"format_version": 2, "model": {"crop": 1}, "data": {}},
     "bad run configuration"),
])
def test_unreadable_configs_are_refused_naming_the_file(tmp_path, doc,
                                                        message):
  path = tmp_path / run_config.CONFIG_FILENAME
  path.write_text(json.dumps(doc))
  with pytest.raises(ValueError, match=message) as info:
    run_config.load_run_config(str(tmp_path))
  assert str(path) in str(info.value)


def test_format1_run_directory_evaluates_and_exports(tmp_path, voc_records):
  """The issue's bar: a run written by the previous main still evaluates
  (eval's config path) and exports (parity checks pass)."""
  # pylint: disable=g-import-not-at-top
  from deeplab_tf.evaluation import evaluator
  from deeplab_tf.evaluation.resolve import eval_run_from_checkpoint
  from deeplab_tf.export import lib as export_lib
  from deeplab_tf.export.config import ExportConfig
  records = voc_records
  run_dir = tmp_path / "run"
  opts = _old_run(run_dir)
  run = eval_run_from_checkpoint(
      str(run_dir), str(tmp_path / "eval"),
      overrides={"dataset_dir": str(records), "eval_crop_size": (513, 513)})
  assert run.model == opts and run.eval.crop_size == (513, 513)
  assert run.data.class_names == get_dataset_descriptor(
      "pascal_voc_seg").class_names
  result = evaluator.run(run)
  assert result["num_images"] == 7  # the VOC val list
  assert 0.0 <= result["miou"] <= 1.0
  report = export_lib.run_export(ExportConfig(
      checkpoint=str(run_dir), export_dir=str(tmp_path / "serving"),
      crop_size=(513, 513), dataset_dir=str(records), num_parity=2),
                                 log=lambda line: None)
  assert report["passed"]
  assert (tmp_path / "serving" / "12" / "saved_model.pb").exists()


def test_a_converted_format1_run_keeps_its_origin(tmp_path):
  """A TF1 checkpoint converted by an earlier main without --dataset:
  format 1 kept only the class count, and "train" held where the weights
  came from."""
  from tests.helpers import tiny_options  # pylint: disable=g-import-not-at-top
  model = dict(tiny_options(4).to_dict(), crop_size=[65, 65])
  origin = {"tf1_checkpoint": "/zoo/model.ckpt", "skip_logits": False,
            "backbone_only": False}
  (tmp_path / run_config.CONFIG_FILENAME).write_text(json.dumps(
      {"model": model, "dataset": {"name": None, "num_classes": 4},
       "train": origin}))
  run = run_config.load_run_config(str(tmp_path))
  assert run.model == tiny_options(4) and run.train is None
  assert run.origin == origin
  assert run.data.class_names == ("class_0", "class_1", "class_2", "class_3")
  assert len(set(run.data.colormap)) == 4 and run.data.crop_size == (65, 65)
  run_config.save_run_config(str(tmp_path), run)
  doc = json.loads((tmp_path / run_config.CONFIG_FILENAME).read_text())
  assert set(doc) == {"format_version", "model", "data", "origin"}
  assert run_config.load_run_config(str(tmp_path)) == run


def test_a_tfds_run_round_trips(tmp_path):
  """The TFDS source is part of the data section (no tfds_* train flags)."""
  # pylint: disable=g-import-not-at-top
  from deeplab_tf.data.tfds_source import TfdsSource
  from tests.helpers import tiny_data, tiny_options, tiny_run
  data = tiny_data(3).replace(tfds=TfdsSource(
      "tfds:camvid", data_dir=str(tmp_path / "tfds"), image_key="image"))
  run = tiny_run(tiny_options(3), data, train_batch_size=2, seed=3)
  run_config.save_run_config(str(tmp_path), run)
  doc = json.loads((tmp_path / run_config.CONFIG_FILENAME).read_text())
  assert doc["data"]["tfds"]["name"] == "camvid"
  assert not any(k.startswith("tfds") for k in doc["train"])
  again = run_config.load_run_config(str(tmp_path))
  assert again == run and again.data.source == data.tfds
