"""export.py end to end: SavedModel, bytes signature, TFLite, parity report.

The session's tiny trained MobileNetV2 run is exported once (conftest's
`voc_export`, shared with test_export_deploy.py); the SavedModel is then
loaded in a separate process that cannot import deeplab_tf and compared
with the Keras evaluation path on real images.
"""

import json
import os
import subprocess

import numpy as np
import pytest
import tensorflow as tf

from deeplab_tf import inference
from deeplab_tf.export import tflite as tflite_lib
from deeplab_tf.model import build_model
from tests import helpers as H
from tests.cli_helpers import assert_one_error, run_cli
from tests.helpers import REPO


@pytest.fixture
def exported(voc_export):
  return voc_export


def keras_labels(exported, image):
  opts = exported["opts"]
  return inference.predict_labels(
      exported["model"], np.asarray(image)[np.newaxis],
      crop_size=H.VOC_CROP, mean_pixel=opts.mean_pixel).numpy()[0]


def test_layout_and_report(exported):
  report = exported["report"]
  serving = exported["dir"] / "serving"
  version = serving / str(H.VOC_STEP)
  assert report["saved_model"] == str(version)
  assert (version / "saved_model.pb").exists()
  assert (version / "assets.extra/deeplab_config.json").exists()
  assert not [p for p in serving.iterdir() if p.name.startswith(".")]
  # Every weight stored once (tracking the Keras model too doubles it).
  variables = version / "variables"
  stored = sum(p.stat().st_size for p in variables.iterdir())
  assert stored < 1.1 * 4 * exported["model"].count_params()
  on_disk = json.loads((serving / "export_report.json").read_text())
  assert on_disk["passed"] is True, on_disk["parity"]
  assert report["parity_images"].endswith(":val")
  sm = report["parity"]["saved_model"]
  assert sm["probabilities_max_abs_diff"] <= 1e-4
  assert sm["label_agreement"] == 1.0


def test_tflite_variants_meet_bounds_without_flex(exported):
  report = exported["report"]
  assert sorted(report["tflite"]) == sorted(tflite_lib.VARIANTS)
  for variant, info in report["tflite"].items():
    check = report["parity"]["tflite_" + variant]
    assert check["passed"], (variant, check)
    assert not [op for op in info["ops"] if op.startswith("Flex")
                or op in ("CUSTOM", "DELEGATE")], info["ops"]
    with open(info["path"], "rb") as f:
      tflite_lib.builtin_op_check(f.read())
  assert report["parity"]["tflite_float32"]["logits_max_rel_diff"] <= 1e-4
  int8 = report["parity"]["tflite_int8"]
  assert "miou_diff" in int8 and int8["miou_keras"] > 0
  sizes = {v: i["bytes"] for v, i in report["tflite"].items()}
  assert sizes["float16"] < 0.6 * sizes["float32"]
  assert sizes["int8"] < 0.4 * sizes["float32"]


def test_tflite_runs_in_litert_with_int32_labels(exported):
  info = exported["report"]["tflite"]["int8"]
  with open(info["path"], "rb") as f:
    runner = tflite_lib.TFLiteRunner(f.read(), num_threads=1)
  assert runner.input_dtype == np.uint8
  assert runner.input_shape == (1,) + H.VOC_CROP + (3,)
  out = runner(np.full((1,) + H.VOC_CROP + (3,), 127.0))
  assert out["semantic_predictions"].dtype == np.int32
  assert out["semantic_predictions"].shape == (1,) + H.VOC_CROP
  with pytest.raises(ValueError, match="pad to the crop"):
    runner(np.zeros((1, 64, 64, 3)))


FRESH_PROCESS = r"""
import sys
sys.modules["deeplab_tf"] = None  # importing it would fail
import numpy as np
import tensorflow as tf
args = np.load(sys.argv[2], allow_pickle=True)
model = tf.saved_model.load(sys.argv[1])
out = {}
for i, batch in enumerate(args["batches"]):
  r = model.signatures["serving_default"](images=tf.constant(batch))
  out["labels_%d" % i] = r["semantic_predictions"].numpy()
  out["probs_dtype_%d" % i] = str(r["semantic_probabilities"].dtype.name)
r = model.signatures["serving_bytes"](image_bytes=tf.constant(
    list(args["encoded"]), tf.string))
for k, v in r.items():
  out["bytes_" + k] = v.numpy()
assert not any(m.startswith("deeplab_tf") for m in sys.modules if sys.modules[m])
np.savez(sys.argv[3], **out)
"""


@pytest.mark.slow
def test_saved_model_in_fresh_process_matches_keras(exported, tmp_path):
  root = H.voc_root(exported["data"])
  voc = [H.read_rgb(root / "JPEGImages" / (n + ".jpg")) for n in
         ("labelme_2011_000003", "labelme_2011_000006", "vainf_b69f5b3_001")]
  city = H.read_rgb(next((exported["data"] / "cityscapes/leftImg8bit").rglob(
      "*.png")))
  # Batches of one size each (different sizes across batches), including
  # one smaller than the crop (padded) and odd sizes.
  batches = [np.stack([v[:300, :401] for v in voc]),
             np.stack([city, city[:, ::-1]]),
             voc[0][None, :97, :113]]
  # One bytes request: JPEG and PNG files of different sizes.
  encoded = [(root / "JPEGImages/labelme_2011_000003.jpg").read_bytes(),
             H.encode(city, "PNG"), H.encode(voc[1][:97, :113], "PNG"),
             (root / "JPEGImages/vainf_b69f5b3_001.jpg").read_bytes()]
  # The graph decodes with TF's JPEG decoder, which differs from PIL's by
  # a few grey levels (chroma upsampling): the reference is Keras on what TF
  # decodes.
  originals = [tf.io.decode_image(e, channels=3).numpy() for e in encoded]
  assert np.abs(originals[0].astype(int) - voc[0]).mean() < 3.0
  np.savez(tmp_path / "in.npz", batches=np.array(batches, dtype=object),
           encoded=np.array(encoded, dtype=object))
  with H.script_in_fresh_process(
      tmp_path, FRESH_PROCESS, exported["report"]["saved_model"],
      tmp_path / "in.npz", tmp_path / "out.npz"):
    # The Keras labels are computed while that process runs.
    expected = [np.stack([keras_labels(exported, image) for image in batch])
                for batch in batches]
    expected_bytes = [keras_labels(exported, image) for image in originals]
  out = np.load(tmp_path / "out.npz")
  for i in range(len(batches)):
    assert out["labels_%d" % i].dtype == np.int32
    np.testing.assert_array_equal(out["labels_%d" % i], expected[i])
    assert out["probs_dtype_%d" % i] == "float32"
  heights, widths = out["bytes_height"], out["bytes_width"]
  assert list(heights) == [o.shape[0] for o in originals]
  assert list(widths) == [o.shape[1] for o in originals]
  labels = out["bytes_semantic_predictions"]
  probs = out["bytes_semantic_probabilities"]
  assert labels.shape == (4, max(heights), max(widths))
  assert probs.shape == labels.shape + (H.VOC_CLASSES,)
  for i, image in enumerate(originals):
    h, w = image.shape[:2]
    np.testing.assert_array_equal(labels[i, :h, :w], expected_bytes[i])
    assert (labels[i, h:] == -1).all() and (labels[i, :, w:] == -1).all()
    np.testing.assert_allclose(probs[i, :h, :w].sum(-1), 1.0, atol=1e-5)


def test_saved_model_cli(exported, tmp_path):
  cli = str(REPO / ".venv/bin/saved_model_cli")
  if not os.path.exists(cli):
    cli = "saved_model_cli"
  path = exported["report"]["saved_model"]
  images = tmp_path / "images.npy"
  np.save(images, np.full((2, 40, 50, 3), 120, np.uint8))
  encoded = tmp_path / "encoded.npy"
  city = next((exported["data"] / "cityscapes/leftImg8bit").rglob("*.png"))
  np.save(encoded, np.array([city.read_bytes()]))  # dtype S: no pickle
  # The three commands run at once (each one mostly imports TensorFlow).
  commands = [[cli, "show", "--dir", path, "--all"]]
  for signature, inputs in (("serving_default", "images=%s" % images),
                            ("serving_bytes", "image_bytes=%s" % encoded)):
    commands.append(
        [cli, "run", "--dir", path, "--tag_set", "serve", "--signature_def",
         signature, "--inputs", inputs, "--outdir", str(tmp_path / signature)])
  procs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True) for c in commands]
  (show_out, show_err), *runs = [p.communicate(timeout=300) for p in procs]
  assert procs[0].returncode == 0, show_err[-2000:]
  for name in ("serving_default", "serving_bytes", "semantic_predictions",
               "semantic_probabilities", "image_bytes"):
    assert name in show_out
  for signature, proc, (_, err) in zip(("serving_default", "serving_bytes"),
                                       procs[1:], runs):
    assert proc.returncode == 0, err[-2000:]
    labels = np.load(tmp_path / signature / "semantic_predictions.npy")
    assert labels.dtype == np.int32
    assert labels.shape == ((2, 40, 50) if signature == "serving_default"
                            else (1, 128, 256))


@pytest.mark.slow
def test_cli_needs_no_model_flags(exported, tmp_path):
  out = tmp_path / "serving"
  args = ["export.py", "--checkpoint_dir=%s" % exported["run_dir"],
          "--export_dir=%s" % out, "--num_parity=1"]
  result = run_cli(*args)  # export.py ... in this process
  assert result.returncode == 0, result.stderr[-3000:]
  assert (out / str(H.VOC_STEP) / "saved_model.pb").exists()
  assert "saved_model" in result.stdout
  again = run_cli(*args)
  assert_one_error(again, "export.py", 1, "already exists")


@pytest.mark.parametrize("scales,flip,pad", [((0.75, 1.0), True, (65, 65)),
                                             ((1.0,), False, (1, 1))])
def test_multiscale_flip_and_padding_equal_inference(scales, flip, pad):
  """The graph baked into the SavedModel is `deeplab_tf.inference`'s."""
  from deeplab_tf.export import serving  # pylint: disable=g-import-not-at-top
  opts = H.tiny_options()
  model = build_model(opts, upsample_logits=False)
  module = serving.DeepLabServingModule(
      model, crop_size=pad, mean_pixel=opts.mean_pixel,
      num_classes=opts.num_classes, scales=scales, add_flipped_images=flip)
  images = np.random.default_rng(0).integers(0, 255, (2, 50, 61, 3),
                                             np.uint8)
  out = module.serve_images(tf.constant(images))
  expected = inference.predict_labels(
      model, images, crop_size=pad, mean_pixel=opts.mean_pixel,
      scales=scales, add_flipped_images=flip).numpy()
  np.testing.assert_array_equal(out["semantic_predictions"].numpy(), expected)
  assert out["semantic_probabilities"].shape == (2, 50, 61, opts.num_classes)
