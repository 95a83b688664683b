"""The model zoo by name: download -> verify -> convert -> cache against a
local mirror (127.0.0.1 only), golden parity of the MobileNetV2 VOC entry,
offline reuse, corrupt archives, concurrent callers, and `zoo:` names in
train.py, eval.py and export.py. Registry facts: test_zoo_registry.py."""

import hashlib
import json
import os
import tarfile
import threading

import numpy as np
import pytest
import tensorflow as tf

from deeplab_tf import zoo
from deeplab_tf.padding import pad_to_crop
from deeplab_tf.zoo import flags as zoo_flags
from deeplab_tf.zoo.__main__ import main as zoo_main
from tests.cli_helpers import run_cli
from tests.helpers import GOLDEN, reference_maker, require, score_val_split
from tests.zoo_server import ZooServer, make_tarball

MNV2_VOC = "mobilenetv2_coco_voc_trainaug"
MNV2_TARBALL = "deeplabv3_mnv2_pascal_train_aug_2018_01_29.tar.gz"


@pytest.fixture(scope="module")
def mirror(tmp_path_factory, golden_checkpoint):
  """A directory laid out like download.tensorflow.org/models/: the golden
  checkpoint (conftest's, bit for bit the one the golden logits were
  computed with) as `deeplabv3_mnv2_pascal_train_aug/model.ckpt-30000.*`."""
  directory = tmp_path_factory.mktemp("mirror")
  make_tarball(str(directory / MNV2_TARBALL),
               "deeplabv3_mnv2_pascal_train_aug", str(golden_checkpoint),
               "model.ckpt-30000")
  return directory


@pytest.fixture
def served(mirror, tmp_path, monkeypatch):
  """The mirror on a local server; DEEPLAB_TF_ZOO_URL / _CACHE point at it
  and at a fresh cache."""
  monkeypatch.setenv("no_proxy", "127.0.0.1")
  monkeypatch.setenv("DEEPLAB_TF_CACHE", str(tmp_path / "cache"))
  with ZooServer(mirror) as server:
    monkeypatch.setenv("DEEPLAB_TF_ZOO_URL", server.url)
    yield server


def test_unknown_and_refused_names_fail_with_the_reason(served):
  with pytest.raises(zoo.ZooError, match="did you mean xception65_coco_voc"):
    zoo.load_model("xception65_coco_voc_trainag")
  for call in (zoo.load_model, zoo.checkpoint, zoo.options):
    with pytest.raises(zoo.ZooError, match="Dense Prediction Cell"):
      call("xception71_dpc_cityscapes_trainfine")
  with pytest.raises(zoo.ZooError, match="MobileNet-v3"):
    zoo.checkpoint("mobilenetv3_small_cityscapes_trainfine")
  assert served.requests == []   # refused before any download


def _golden_logits_ok(model):
  meta = json.loads((GOLDEN / "meta.json").read_text())
  golden = np.load(require(GOLDEN / "golden.npz"))
  mean = zoo.options(MNV2_VOC).mean_pixel
  for case, crop in meta["case_crop_size"].items():
    expected = golden[case + "/logits"]
    image = tf.cast(golden[case + "/image"], tf.float32)
    logits = model(pad_to_crop(image, crop, mean), training=False).numpy()
    assert logits.shape == expected.shape, case
    error = np.abs(logits - expected).max() / np.abs(expected).max()
    assert error <= 3e-4, (case, error)
  return golden["sq513/image"]


@pytest.mark.slow
def test_golden_by_name_cached_and_offline(served, mirror, tmp_path,
                                           capsys):
  cache = tmp_path / "cache" / "zoo"
  results = {}

  def run(key, fn):
    try:
      results[key] = fn()
    except Exception as e:  # pylint: disable=broad-except
      results[key] = e
  # Two concurrent first users: one downloads and converts, the other waits
  # for it and reuses the result.
  threads = [threading.Thread(target=run, args=(
      "model", lambda: zoo.load_model(MNV2_VOC, upsample_logits=False))),
             threading.Thread(target=run, args=(
                 "dir", lambda: zoo.checkpoint(MNV2_VOC)))]
  for t in threads:
    t.start()
  for t in threads:
    t.join(timeout=300)
  assert not isinstance(results["model"], Exception), results["model"]
  assert results["dir"] == str(cache / MNV2_VOC)
  assert served.requests == ["/" + MNV2_TARBALL]
  image = _golden_logits_ok(results["model"])
  # The run directory every CLI reads, recording where it came from.
  saved = json.loads((cache / MNV2_VOC / "deeplab_config.json").read_text())
  assert saved["model"] == zoo.options(MNV2_VOC).to_dict()
  assert saved["data"]["class_names"][15] == "person"
  digest = hashlib.sha256((mirror / MNV2_TARBALL).read_bytes()).hexdigest()
  assert saved["origin"]["tarball_sha256"] == digest
  assert saved["origin"]["url"] == served.url + MNV2_TARBALL
  assert saved["origin"]["tf1_checkpoint"] == "model.ckpt-30000"
  assert sorted(os.listdir(cache)) == [".locks", MNV2_VOC]  # no staging
  umask = os.umask(0)
  os.umask(umask)
  assert (os.stat(cache / MNV2_VOC).st_mode & 0o777) == 0o777 & ~umask
  # Second use: neither network nor conversion.
  served.stop()
  again = zoo.load_model(MNV2_VOC, upsample_logits=False)
  x = tf.constant(image[:, :129, :129], tf.float32)
  np.testing.assert_array_equal(again(x).numpy(),
                                results["model"](x).numpy())
  capsys.readouterr()
  assert zoo_main(["download", MNV2_VOC]) == 0     # from the cache
  assert capsys.readouterr().out.strip() == "%s: %s" % (MNV2_VOC,
                                                         cache / MNV2_VOC)
  assert zoo_main(["download", "edgetpu_deeplab"]) == 1
  assert "mobilenet_edgetpu) is not built" in capsys.readouterr().err
  os8 = zoo.load_model(MNV2_VOC, output_stride=8, upsample_logits=False)
  assert os8(x).shape[1:3] == (17, 17)     # (129 - 1) / 8 + 1
  assert again(x).shape[1:3] == (9, 9)


@pytest.mark.parametrize("damage", ["truncated", "not_an_archive",
                                    "no_checkpoint", "missing"])
def test_bad_archive_fails_clearly_and_leaves_the_cache_clean(
    mirror, tmp_path, monkeypatch, damage):
  bad = tmp_path / "bad_mirror"
  bad.mkdir()
  data = (mirror / MNV2_TARBALL).read_bytes()
  if damage == "truncated":
    (bad / MNV2_TARBALL).write_bytes(data[:len(data) // 2])
  elif damage == "not_an_archive":
    (bad / MNV2_TARBALL).write_bytes(b"<html>503 Service Unavailable</html>")
  elif damage == "no_checkpoint":
    with tarfile.open(bad / MNV2_TARBALL, "w:gz") as tar:
      readme = tmp_path / "README"
      readme.write_text("no checkpoint here")
      tar.add(readme, arcname="deeplabv3_mnv2_pascal_train_aug/README")
  cache = tmp_path / "cache"
  (cache / "zoo").mkdir(parents=True)
  (cache / "zoo" / "keep.txt").write_text("the user's")
  monkeypatch.setenv("no_proxy", "127.0.0.1")
  monkeypatch.setenv("DEEPLAB_TF_CACHE", str(cache))
  with ZooServer(bad) as server:
    monkeypatch.setenv("DEEPLAB_TF_ZOO_URL", server.url)
    with pytest.raises(zoo.ZooError) as error:
      zoo.checkpoint(MNV2_VOC)
  message = str(error.value)
  assert server.url + MNV2_TARBALL in message and MNV2_TARBALL in message
  assert "Traceback" not in message and "\n" not in message
  assert sorted(os.listdir(cache / "zoo")) == [".locks", "keep.txt"]
  assert not os.listdir(cache / "zoo" / ".locks") or all(
      n.endswith(".lock") for n in os.listdir(cache / "zoo" / ".locks"))


def _slim_mobilenet_tarball(directory, tmp_path):
  """slim's mobilenet_v2_1.0_224.tgz: `mobilenet_v2_1.0_224.ckpt.*` with the
  classifier (Conv_1, Logits) and moving averages beside the backbone."""
  specs = [(v["name"], tuple(v["shape"])) for v in json.loads(
      (GOLDEN / "variables.json").read_text())["variables"]
           if v["name"].startswith("MobilenetV2/")]
  specs += [("MobilenetV2/Conv_1/weights", (1, 1, 320, 1280)),
            ("MobilenetV2/Logits/Conv2d_1c_1x1/weights", (1, 1, 1280, 1001)),
            ("MobilenetV2/Logits/Conv2d_1c_1x1/biases", (1001,)),
            (specs[0][0] + "/ExponentialMovingAverage", specs[0][1]),
            ("global_step", ())]
  values = {n: np.full(s, i * 0.25, np.float32)
            for i, (n, s) in enumerate(specs)}
  work = tmp_path / "slim"
  work.mkdir()
  reference_maker().write_checkpoint(str(work / "m.ckpt"), values)
  make_tarball(str(directory / "mobilenet_v2_1.0_224.tgz"), ".",
               str(work / "m.ckpt"), "mobilenet_v2_1.0_224.ckpt")
  return values


def test_train_flags_resolve_zoo_names(mirror, tmp_path, monkeypatch):
  """train.py: a trained entry gives its run directory and its model flags
  when unset; an ImageNet backbone gives its TF1 checkpoint with
  initialize_last_layer=false, and restores into another head."""
  from deeplab_tf import ModelOptions, build_model
  from deeplab_tf.training.checkpoints import initialize_from_checkpoint
  from deeplab_tf.training.resolve import model_options
  slim_dir = tmp_path / "slim_mirror"
  slim_dir.mkdir()
  values = _slim_mobilenet_tarball(slim_dir, tmp_path)
  monkeypatch.setenv("no_proxy", "127.0.0.1")
  monkeypatch.setenv("DEEPLAB_TF_CACHE", str(tmp_path / "cache"))
  with ZooServer(slim_dir) as server:
    monkeypatch.setenv("DEEPLAB_TF_ZOO_URL", server.url)
    out = zoo_flags.train_values(
        {"tf_initial_checkpoint": "zoo:mobilenet_v2_imagenet",
         "initialize_last_layer": True, "decoder_output_stride": ["4"],
         "model_variant": None},
        present={"tf_initial_checkpoint", "decoder_output_stride"})
    with pytest.raises(zoo.ZooError, match="is a mobilenet_v2 checkpoint"):
      zoo_flags.train_values(
          {"tf_initial_checkpoint": "zoo:mobilenet_v2_imagenet",
           "model_variant": "xception_65"},
          present={"tf_initial_checkpoint", "model_variant"})
    with pytest.raises(zoo.ZooError, match="no head to restore"):
      zoo_flags.train_values(
          {"tf_initial_checkpoint": "zoo:mobilenet_v2_imagenet",
           "initialize_last_layer": True},
          present={"tf_initial_checkpoint", "initialize_last_layer"})
  assert out["model_variant"] == "mobilenet_v2"
  assert out["decoder_output_stride"] == ["4"]      # given: kept
  assert out["atrous_rates"] is None and out["output_stride"] == 16
  assert out["initialize_last_layer"] is False
  assert out["tf_initial_checkpoint"].endswith("mobilenet_v2_imagenet/tf1")
  # What train.py then does: a model with a decoder, the backbone restored.
  opts = model_options(out, {}, 5)
  assert opts == ModelOptions(model_variant="mobilenet_v2", num_classes=5,
                              atrous_rates=None, decoder_output_stride=4)
  model = build_model(opts)
  report = initialize_from_checkpoint(model, opts, out["tf_initial_checkpoint"],
                                      initialize_last_layer=False)
  assert all(n.startswith("MobilenetV2") for n in report.restored)
  assert any(n.startswith("decoder") for n in report.not_restored)
  kernel = model.get_layer("MobilenetV2.Conv").kernel.numpy()
  np.testing.assert_array_equal(kernel, values["MobilenetV2/Conv/weights"])
  with pytest.raises(zoo.ZooError, match="ImageNet backbone"):
    zoo_flags.run_dir_for_flag("zoo:mobilenet_v2_imagenet")
  with pytest.raises(zoo.ZooError, match="--model_variant: with"):
    zoo_flags.run_dir_for_flag("zoo:" + MNV2_VOC, ["model_variant"])


@pytest.mark.slow
def test_eval_and_export_take_zoo_names(mirror, tmp_path, voc_records,
                                        monkeypatch):
  """eval.py downloads, converts and scores zoo:<name> like the model
  load_model gives; export.py then works from the cache, server stopped.
  (Both CLIs run in this process: `run_cli`.)"""
  from deeplab_tf import inference
  monkeypatch.setenv("DEEPLAB_TF_CACHE", str(tmp_path / "cache"))
  monkeypatch.setenv("no_proxy", "127.0.0.1")
  with ZooServer(mirror) as server:
    monkeypatch.setenv("DEEPLAB_TF_ZOO_URL", server.url)
    result = run_cli("eval.py", "--tf_initial_checkpoint=zoo:" + MNV2_VOC,
                     "--dataset_dir=%s" % voc_records,
                     "--eval_logdir=%s" % (tmp_path / "eval"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert server.requests == ["/" + MNV2_TARBALL]
  saved = json.loads((tmp_path / "eval" / "metrics.json").read_text())
  monkeypatch.setenv("DEEPLAB_TF_ZOO_URL", "http://127.0.0.1:9/")  # nothing
  model = zoo.load_model(MNV2_VOC, upsample_logits=False)
  cm, near_ties = score_val_split(model, voc_records, (127.5,) * 3)
  got = np.array(saved["confusion_matrix"])
  assert saved["num_images"] == 7 and got.sum() == cm.sum()
  moved = int(np.abs(got - cm).sum()) // 2  # only float near-ties may move
  assert moved <= near_ties and moved <= 10, (moved, near_ties)
  # export.py from the cache alone (the server is gone).
  out = tmp_path / "serving"
  result = run_cli("export.py", "--tf_initial_checkpoint=zoo:" + MNV2_VOC,
                   "--dataset_dir=%s" % voc_records, "--export_dir=%s" % out,
                   "--crop_size=129,129", "--verify=false")
  assert result.returncode == 0, result.stderr[-3000:]
  report = json.loads((out / "export_report.json").read_text())
  assert report["passed"]
  loaded = tf.saved_model.load(report["saved_model"])
  image = np.random.RandomState(3).randint(0, 256, (1, 100, 120, 3))
  served = loaded.signatures["serving_default"](
      images=tf.constant(image, tf.uint8))["semantic_predictions"].numpy()
  expected = inference.predict_labels(model, image.astype(np.float32),
                                      crop_size=(129, 129),
                                      mean_pixel=(127.5,) * 3).numpy()
  np.testing.assert_array_equal(served, expected)
