"""The model zoo by name: registry facts, download -> verify -> convert ->
cache against a local mirror (127.0.0.1 only), golden parity of the
MobileNetV2 VOC entry, offline reuse, corrupt archives, concurrent callers,
the train.py resolution of `zoo:` names, and the name table of every entry."""

import hashlib
import json
import os
import tarfile
import threading

import numpy as np
import pytest
import tensorflow as tf

from deeplab_tf import zoo
from deeplab_tf.data import get_dataset_descriptor
from deeplab_tf.inference import pad_to_crop
from deeplab_tf.zoo import flags as zoo_flags
from tests.conftest import REFERENCE, require
from tests.test_tf1_checkpoint import voc_records  # noqa: F401 (fixture)
from tests.zoo_server import (GOLDEN, ZooServer, make_golden_tarball,
                              make_tarball, reference_maker)

MNV2_VOC = "mobilenetv2_coco_voc_trainaug"
MNV2_TARBALL = "deeplabv3_mnv2_pascal_train_aug_2018_01_29.tar.gz"


@pytest.fixture(scope="module")
def mirror(tmp_path_factory):
  """A directory laid out like download.tensorflow.org/models/."""
  directory = tmp_path_factory.mktemp("mirror")
  make_golden_tarball(str(directory), MNV2_TARBALL)
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


def test_registry_holds_the_zoo_tables():
  by_dataset = {}
  for name in zoo.names():
    by_dataset.setdefault(zoo.entry(name).dataset, []).append(name)
  assert {k: len(v) for k, v in by_dataset.items()} == {
      "pascal_voc_seg": 6, "cityscapes": 8, "ade20k": 2, "imagenet": 8}
  assert set(zoo.names()) - set(zoo.names(include_refused=False)) == {
      "mobilenetv3_large_cityscapes_trainfine",
      "mobilenetv3_small_cityscapes_trainfine",
      "xception71_dpc_cityscapes_trainfine",
      "xception71_dpc_cityscapes_trainval", "edgetpu_deeplab",
      "edgetpu_deeplab_slim"}
  # Facts of model_zoo.md, spot-checked per table.
  e = zoo.entry("xception65_coco_voc_trainaug")
  assert e.url == ("http://download.tensorflow.org/models/"
                   "deeplabv3_pascal_train_aug_2018_01_04.tar.gz")
  assert [(r.output_stride, r.scales, r.flip, r.multiply_adds, r.miou)
          for r in e.eval_rows] == [
              (16, (1.0,), False, "54.17B", "82.20% (val)"),
              (8, (0.5, 0.75, 1.0, 1.25, 1.5, 1.75), True, "3055.35B",
               "83.58% (val)")]
  assert e.size == "439MB"
  city = zoo.entry("xception65_cityscapes_trainfine")
  assert city.eval_rows[1].scales == (0.75, 1.0, 1.25)
  assert city.eval_rows[0].miou == "78.79% (val)"
  assert zoo.entry("xception_65_imagenet").tarball == (
      "deeplabv3_xception_2018_01_04.tar.gz")
  assert zoo.entry("EdgeTPU-DeepLab").name == "edgetpu_deeplab"
  # The paper's architecture: OS16, rates 6/12/18, decoder 4; 12/24/36 at 8.
  opts = zoo.options("xception65_coco_voc_trainaug")
  assert (opts.output_stride, opts.atrous_rates,
          opts.decoder_output_stride) == (16, (6, 12, 18), 4)
  assert opts.for_output_stride(8).atrous_rates == (12, 24, 36)
  for name in zoo.names(include_refused=False):
    e = zoo.entry(name)
    if e.kind == zoo.MODEL:
      assert e.num_classes == get_dataset_descriptor(e.dataset).num_classes
    assert e.url.endswith("/" + e.tarball)


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
def test_golden_by_name_cached_and_offline(served, mirror, tmp_path):
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
  assert saved["dataset"]["class_names"][15] == "person"
  digest = hashlib.sha256((mirror / MNV2_TARBALL).read_bytes()).hexdigest()
  assert saved["train"]["tarball_sha256"] == digest
  assert saved["train"]["url"] == served.url + MNV2_TARBALL
  assert saved["train"]["tf1_checkpoint"] == "model.ckpt-30000"
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
  opts = model_options(out, {"train_crop_size": (65, 65)}, 5)
  assert opts == ModelOptions(model_variant="mobilenet_v2", num_classes=5,
                              atrous_rates=None, decoder_output_stride=4,
                              crop_size=(65, 65))
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


def _run_cli(args, env):
  import subprocess
  import sys
  from tests.conftest import REPO
  return subprocess.run([sys.executable] + args, cwd=REPO, capture_output=True,
                        text=True, timeout=600,
                        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", **env))


@pytest.mark.slow
def test_eval_and_export_take_zoo_names(mirror, tmp_path, voc_records):
  """eval.py downloads, converts and scores zoo:<name> like the model
  load_model gives; export.py then works from the cache, server stopped."""
  from deeplab_tf import inference
  from deeplab_tf.data.input_pipeline import decode_example, list_split_files
  from deeplab_tf.evaluation import metrics
  env = {"DEEPLAB_TF_CACHE": str(tmp_path / "cache"), "no_proxy": "127.0.0.1"}
  with ZooServer(mirror) as server:
    env["DEEPLAB_TF_ZOO_URL"] = server.url
    result = _run_cli(["eval.py", "--tf_initial_checkpoint=zoo:" + MNV2_VOC,
                       "--dataset_dir=%s" % voc_records,
                       "--eval_logdir=%s" % (tmp_path / "eval")], env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert server.requests == ["/" + MNV2_TARBALL]
  saved = json.loads((tmp_path / "eval" / "metrics.json").read_text())
  with pytest.MonkeyPatch.context() as mp:
    mp.setenv("DEEPLAB_TF_CACHE", env["DEEPLAB_TF_CACHE"])
    mp.setenv("DEEPLAB_TF_ZOO_URL", "http://127.0.0.1:9/")  # nothing there
    model = zoo.load_model(MNV2_VOC, upsample_logits=False)
  cm = np.zeros((21, 21), np.int64)
  near_ties = 0
  for record in tf.data.TFRecordDataset(list_split_files(str(voc_records),
                                                         "val")):
    example = decode_example(record)
    image = tf.cast(example["image"], tf.float32)[tf.newaxis]
    h, w = image.shape[1:3]
    probs = inference.predict_probabilities(model, pad_to_crop(
        image, (513, 513), (127.5,) * 3)).numpy()[0, :h, :w]
    label = example["label"].numpy()
    top2 = np.sort(probs, axis=-1)[..., -2:]
    near_ties += int(np.sum((top2[..., 1] - top2[..., 0] < 1e-4)
                            & (label != 255)))
    cm += metrics.confusion_matrix_np(label, probs.argmax(-1), 21, 255)
  got = np.array(saved["confusion_matrix"])
  assert saved["num_images"] == 7 and got.sum() == cm.sum()
  moved = int(np.abs(got - cm).sum()) // 2  # only float near-ties may move
  assert moved <= near_ties and moved <= 10, (moved, near_ties)
  # export.py from the cache alone (the server is gone).
  out = tmp_path / "serving"
  result = _run_cli(["export.py", "--tf_initial_checkpoint=zoo:" + MNV2_VOC,
                     "--dataset_dir=%s" % voc_records, "--export_dir=%s" % out,
                     "--crop_size=129,129", "--verify=false"], env)
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


# ---------------------------------------------- name table of every entry
def _reference_specs(config):
  doc = json.loads(require(REFERENCE / "variables" / (config + ".json"))
                   .read_text())
  return {v["name"]: tuple(v["shape"]) for v in doc["variables"]}


def _new_input(specs, block, channels):
  """`block`'s first unit reads `channels` instead: its first separable conv
  and its shortcut change their input depth."""
  out = {}
  for name, shape in specs.items():
    if name.startswith(block + "/"):
      if "separable_conv1_depthwise/" in name:
        shape = (3, 3, channels, 1) if name.endswith("weights") else (
            channels,)
      elif name.endswith(("separable_conv1_pointwise/weights",
                          "shortcut/weights")):
        shape = (1, 1, channels, shape[-1])
    out[name] = shape
  return out


def _expected_specs(opts):
  """The TF1 variables of `opts`, from the reference graphs' lists and the
  documented differences between variants (README of ../shared/reference),
  without the logits; None where no reference covers the configuration."""
  variant = opts.model_variant
  if variant == "mobilenet_v2":
    if opts.depth_multiplier != 1.0:
      return None   # see test_published_multiply_adds_of_mobilenet_entries
    specs = _reference_specs("mobilenet_v2_os16")
    if opts.decoder_output_stride == 4:
      # Decoder on layer_4/depthwise_output (expanded_conv_2: 24 * 6 = 144).
      for scope, shape in (("feature_projection0", (1, 1, 144, 48)),
                           ("decoder_conv0_depthwise", (3, 3, 304, 1)),
                           ("decoder_conv0_pointwise", (1, 1, 304, 256)),
                           ("decoder_conv1_depthwise", (3, 3, 256, 1)),
                           ("decoder_conv1_pointwise", (1, 1, 256, 256))):
        key = "depthwise_weights" if "depthwise" in scope else "weights"
        specs["decoder/%s/%s" % (scope, key)] = shape
        for bn in ("gamma", "beta", "moving_mean", "moving_variance"):
          specs["decoder/%s/BatchNorm/%s" % (scope, bn)] = (
              shape[2] if "depthwise" in scope else shape[3],)
  elif variant.startswith("xception"):
    ref = _reference_specs("xception_65_os16_dec4_sc")
    specs = {n.replace("xception_65/", variant + "/"): s
             for n, s in ref.items()}
    if variant == "xception_41":   # 8 middle-flow units instead of 16
      specs = {n: s for n, s in specs.items() if not any(
          "middle_flow/block1/unit_%d/" % u in n for u in range(9, 17))}
    if variant == "xception_71":   # entry flow 128, 256, 256, 728, 728
      entry = variant + "/entry_flow/"
      rest = {n: s for n, s in specs.items()
              if not n.startswith(entry + "block")}  # stem, middle, exit
      blocks = {b: {n[len(entry + b):]: s for n, s in specs.items()
                    if n.startswith(entry + b + "/")}
                for b in ("block1", "block2", "block3")}
      specs = dict(rest)
      for new, old, channels in (("block1", "block1", None),
                                 ("block2", "block2", None),
                                 ("block3", "block2", 256),
                                 ("block4", "block3", None),
                                 ("block5", "block3", 728)):
        block = {entry + new + n: s for n, s in blocks[old].items()}
        specs.update(_new_input(block, entry + new, channels)
                     if channels else block)
  else:
    specs = {n.replace("resnet_v1_101/", variant.replace("_beta", "") + "/"):
             s for n, s in _reference_specs(
                 "resnet_v1_101_beta_os16_dec4").items()}
    if variant == "resnet_v1_50_beta":   # block3: 6 units instead of 23
      specs = {n: s for n, s in specs.items() if not any(
          "block3/unit_%d/" % u in n for u in range(7, 24))}
  return {n: s for n, s in specs.items() if not n.startswith("logits/")}


@pytest.mark.slow
def test_every_entry_builds_the_reference_variable_names():
  """Every loadable entry's model has exactly the TF1 variables (names and
  shapes) of the reference graph for its configuration; entries sharing an
  architecture share one build (only their logits differ)."""
  import keras
  from deeplab_tf import build_model
  from deeplab_tf.tf1_checkpoint import tf1_variable_specs
  groups = {}
  for name in zoo.names(include_refused=False):
    opts = zoo.options(name)
    groups.setdefault(opts.replace(num_classes=1, crop_size=(513, 513)),
                      []).append(name)
  unverified = []
  for arch, members in groups.items():
    keras.backend.clear_session()
    built = zoo.options(members[0])
    model = build_model(built)
    specs = dict(tf1_variable_specs(model))
    assert specs.pop("logits/semantic/weights") == (
        1, 1, 256, built.num_classes)
    assert specs.pop("logits/semantic/biases") == (built.num_classes,)
    expected = _expected_specs(arch)
    if expected is None:
      unverified += members
      continue
    assert specs == expected, members
  assert sorted(unverified) == ["mobilenet_v2_dm05_imagenet",
                                "mobilenetv2_dm05_coco_voc_trainaug",
                                "mobilenetv2_dm05_coco_voc_trainval"]


@pytest.mark.parametrize("name,row,size", [
    ("mobilenetv2_coco_voc_trainaug", 0, (513, 513)),
    ("mobilenetv2_dm05_coco_voc_trainaug", 0, (513, 513)),
    ("mobilenetv2_dm05_coco_voc_trainval", 0, (513, 513)),
    ("mobilenetv2_coco_cityscapes_trainfine", 0, (1025, 2049)),
])
def test_published_multiply_adds_of_mobilenet_entries(name, row, size):
  """The registry's configuration reproduces the zoo's Multiply-Adds (the
  paper's profiler method, deeplab_tf.complexity) at its eval stride and
  crop: 2.75B, 0.88B, 2.84B, 21.27B."""
  from deeplab_tf.complexity import count
  e = zoo.entry(name)
  r = e.eval_rows[row]
  assert r.scales == (1.0,) and not r.flip
  opts = e.options.for_output_stride(r.output_stride)
  c = count(opts, size)
  total = c.paper_macs + c.variable_macs + size[0] * size[1] * (
      opts.num_classes) / 2                                  # + ArgMax
  published = float(r.multiply_adds.rstrip("B")) * 1e9
  assert abs(total - published) <= 0.01 * published, (total, published)
