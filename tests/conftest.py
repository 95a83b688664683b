"""Shared test fixtures: paths to ../shared, quiet TensorFlow, and the
expensive read-only objects built once per session (VOC TFRecords, the
golden TF1 checkpoint, one tiny trained VOC run and its export, one small
untrained export). Plain helpers live in tests/helpers.py."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

from tests import helpers  # noqa: E402
from tests.helpers import DATA, REFERENCE, require  # noqa: E402


@pytest.fixture
def reference_dir():
  return require(REFERENCE)


@pytest.fixture
def data_dir():
  return require(DATA)


def _listing(directory):
  return sorted((os.path.relpath(os.path.join(base, f), directory),
                 os.path.getsize(os.path.join(base, f)))
                for base, _, files in os.walk(directory) for f in files)


@pytest.fixture(scope="session")
def voc_records(tmp_path_factory):
  """TFRecords of ../shared/data/voc (train and val), built once."""
  from deeplab_tf.data.builders import build_voc2012  # pylint: disable=g-import-not-at-top
  root = helpers.voc_root(require(DATA))
  out = tmp_path_factory.mktemp("voc") / "tfrecord"
  build_voc2012(str(root), str(out), num_workers=1, verbose=False)
  before = _listing(out)
  yield out
  assert _listing(out) == before, "a test wrote into the shared voc_records"


@pytest.fixture(scope="session")
def synthetic_records(tmp_path_factory):
  """A tiny synthetic dataset (4 train, 2 val images of 33x33, 2 shards
  each, with its label_map.json), built once. Read-only for the tests."""
  from deeplab_tf.data.synthetic import write_synthetic_dataset  # pylint: disable=g-import-not-at-top
  out = tmp_path_factory.mktemp("synthetic") / "records"
  write_synthetic_dataset(str(out), num_train=4, num_val=2,
                          image_size=(33, 33))
  before = _listing(out)
  yield out
  assert _listing(out) == before, ("a test wrote into the shared "
                                   "synthetic_records")


@pytest.fixture(scope="session")
def golden_checkpoint(tmp_path_factory):
  """The authors' MobileNetV2 golden weights as a TF1 checkpoint prefix."""
  import json  # pylint: disable=g-import-not-at-top
  prefix = tmp_path_factory.mktemp("golden") / "model.ckpt"
  digest = helpers.make_golden_checkpoint(prefix)
  meta = json.loads((helpers.GOLDEN / "meta.json").read_text())
  assert digest == meta["weights"]["checkpoint_values_sha256"]
  return prefix


@pytest.fixture(scope="session")
def voc_run(tmp_path_factory, voc_records):
  """ONE tiny VOC run shared by every module: the tiny VOC model after a
  few steps on real VOC crops, saved as <dir>/ckpt-VOC_STEP with its run
  configuration (dataset_dir = voc_records). Read-only for the tests.

  {"dir", "opts", "model" (restored, upsample_logits=False), "data"}."""
  # pylint: disable=g-import-not-at-top
  from deeplab_tf.model import build_model
  from deeplab_tf.run_config import restore_model
  data_dir = require(DATA)
  logdir = tmp_path_factory.mktemp("voc_run") / "train"
  opts, _ = helpers.train_tiny_checkpoint(data_dir, logdir, voc_records)
  model = build_model(opts, upsample_logits=False)
  restore_model(model, str(logdir))
  before = _listing(logdir)
  yield {"dir": logdir, "opts": opts, "model": model, "data": data_dir}
  assert _listing(logdir) == before, "a test wrote into the shared voc_run"


@pytest.fixture(scope="session")
def voc_export(tmp_path_factory, voc_run):
  """ONE export of voc_run for test_export and test_export_deploy: the
  SavedModel (with the serving_sliding signature), every TFLite variant
  and, when tf2onnx / onnxruntime are installed, ONNX; parity-checked on
  3 VOC val images. Read-only for the tests.

  {"report", "dir" (holds "serving"), "run_dir" (voc_run's), "config",
   "opts", "model", "data"}."""
  from deeplab_tf.export import lib as export_lib  # pylint: disable=g-import-not-at-top
  from deeplab_tf.sliding_window import SlidingWindow  # pylint: disable=g-import-not-at-top
  tmp = tmp_path_factory.mktemp("voc_export")
  config = export_lib.ExportConfig(
      checkpoint=str(voc_run["dir"]), export_dir=str(tmp / "serving"),
      tflite=True, num_representative=4, num_parity=3,
      onnx=helpers.onnx_available(), window=SlidingWindow(
          helpers.EXPORT_WINDOW, helpers.EXPORT_STRIDE, batch_size=2))
  report = export_lib.run_export(config, log=lambda *_: None)
  before = _listing(tmp)
  yield dict(voc_run, report=report, dir=tmp, run_dir=voc_run["dir"],
             config=config)
  assert _listing(tmp) == before, "a test wrote into the shared voc_export"


@pytest.fixture(scope="session")
def small_export(tmp_path_factory):
  """ONE export of an untrained tiny VOC model at crop SMALL_EXPORT_CROP for
  test_export_faults and test_export_bad_input: written under umask 022,
  with max_image_pixels = SMALL_EXPORT_LIMIT, the float32 TFLite variant and
  no parity check. Read-only for the tests.

  {"dir" (holds "train" and "serving"), "report", "config", "model"
   (the exported Keras model, upsample_logits=False), "opts", "loaded"
   (the SavedModel, loaded)}."""
  # pylint: disable=g-import-not-at-top
  import keras
  import tensorflow as tf
  from deeplab_tf import run_config
  from deeplab_tf.export import lib as export_lib
  from deeplab_tf.model import build_model
  tmp = tmp_path_factory.mktemp("small_export")
  opts = helpers.voc_tiny_options()
  previous_umask = os.umask(0o022)
  try:
    keras.utils.set_random_seed(5)
    native = build_model(opts, upsample_logits=False)
    tf.train.CheckpointManager(tf.train.Checkpoint(model=native),
                               str(tmp / "train"), max_to_keep=1).save(
                                   checkpoint_number=1)
    run_config.save_run_config(str(tmp / "train"), helpers.tiny_run(
        opts, helpers.tiny_data(opts.num_classes,
                                crop=helpers.SMALL_EXPORT_CROP[0])))
    config = export_lib.ExportConfig(
        checkpoint=str(tmp / "train"), export_dir=str(tmp / "serving"),
        tflite=True, tflite_variants=("float32",), verify=False,
        max_image_pixels=helpers.SMALL_EXPORT_LIMIT)
    report = export_lib.run_export(config, log=lambda *_: None)
  finally:
    os.umask(previous_umask)
  before = _listing(tmp)
  yield {"dir": tmp, "report": report, "config": config, "model": native,
         "opts": opts, "loaded": tf.saved_model.load(report["saved_model"])}
  assert _listing(tmp) == before, "a test wrote into the shared small_export"
