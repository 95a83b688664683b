"""deeplab_tf.run_config: deeplab_config.json format 2 stores each thing
once, and run directories written in format 1 (before 2026-11-30) still
load, evaluate and export.

`tests/data/deeplab_config_format1.json` is the file the previous main wrote
for a tiny MobileNetV2 run on pascal_voc_seg (save_run_config of a
TrainConfig, as train.py called it), kept byte for byte.
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

FORMAT1 = pathlib.Path(__file__).parent / "data" / "deeplab_config_format1.json"
# What format 1 repeated inside "train" (the model, the classes and the
# dataset), and so what format 2 leaves out of it.
REPEATED_IN_FORMAT1 = {"model", "dataset", "dataset_dir", "ignore_label",
                       "class_names", "colormap", "train_split"}


def _format1_run(directory: pathlib.Path) -> ModelOptions:
  """A format-1 run directory: the old file plus a ckpt-12 of its model."""
  directory.mkdir(parents=True, exist_ok=True)
  shutil.copy(FORMAT1, directory / run_config.CONFIG_FILENAME)
  opts = ModelOptions.from_dict(json.loads(FORMAT1.read_text())["model"])
  keras.utils.set_random_seed(3)
  model = build_model(opts)
  tf.train.CheckpointManager(tf.train.Checkpoint(model=model), str(directory),
                             max_to_keep=1).save(checkpoint_number=12)
  return opts


def test_format1_file_loads_as_written(tmp_path):
  shutil.copy(FORMAT1, tmp_path / run_config.CONFIG_FILENAME)
  opts, data, train = run_config.load_run_config(str(tmp_path))
  voc = get_dataset_descriptor("pascal_voc_seg")
  assert (opts.model_variant, opts.depth_multiplier, opts.crop_size,
          opts.num_classes, opts.atrous_rates, opts.decoder_output_stride) == (
              "mobilenet_v2", 0.5, (129, 129), 21, None, 4)
  assert data["name"] == "pascal_voc_seg"
  assert tuple(data["class_names"]) == voc.class_names
  assert (data["num_classes"], data["ignore_label"]) == (21, 255)
  assert train["training_number_of_steps"] == 12
  assert train["train_batch_size"] == 4


def test_format2_stores_each_thing_once_and_reads_back(tmp_path):
  old = json.loads(FORMAT1.read_text())
  opts = ModelOptions.from_dict(old["model"])
  run_config.save_run_config(str(tmp_path), opts, old["dataset"], old["train"])
  text = (tmp_path / run_config.CONFIG_FILENAME).read_text()
  doc = json.loads(text)
  assert doc["format_version"] == 2
  assert set(doc) == {"format_version", "model", "data", "train"}
  # Format 1 held the class names twice and the model twice.
  assert old["train"]["class_names"] == old["dataset"]["class_names"]
  assert text.count('"aeroplane"') == 1
  assert text.count('"model_variant"') == 1
  assert not REPEATED_IN_FORMAT1 & set(doc["train"])
  loaded_opts, data, train = run_config.load_run_config(str(tmp_path))
  assert loaded_opts == opts
  assert data == old["dataset"]
  assert train == {k: v for k, v in old["train"].items()
                   if k not in REPEATED_IN_FORMAT1}


@pytest.mark.parametrize("doc, message", [
    ({"format_version": 3, "model": {}},
     "format_version 3, but this deeplab_tf reads versions 1, 2: .*upgrade"),
    ([1, 2], "is not a deeplab_tf run configuration"),
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
  from deeplab_tf.evaluation import evaluator  # pylint: disable=g-import-not-at-top
  from deeplab_tf.evaluation.config import eval_config_from_checkpoint  # pylint: disable=g-import-not-at-top
  from deeplab_tf.export import lib as export_lib  # pylint: disable=g-import-not-at-top
  records = voc_records
  run = tmp_path / "run"
  opts = _format1_run(run)
  config = eval_config_from_checkpoint(
      str(run), str(tmp_path / "eval"),
      overrides={"dataset_dir": str(records), "eval_crop_size": (513, 513)})
  assert config.model == opts.replace(crop_size=(513, 513))
  assert config.class_names == get_dataset_descriptor(
      "pascal_voc_seg").class_names
  result = evaluator.run(config)
  assert result["num_images"] == 7  # the VOC val list
  assert 0.0 <= result["miou"] <= 1.0
  report = export_lib.run_export(export_lib.ExportConfig(
      checkpoint_dir=str(run), export_dir=str(tmp_path / "serving"),
      crop_size=(513, 513), dataset_dir=str(records), num_parity=2),
                                 log=lambda line: None)
  assert report["passed"]
  assert (tmp_path / "serving" / "12" / "saved_model.pb").exists()
