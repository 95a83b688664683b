"""Deployment beyond the reference: ONNX, BatchNorm-folded and bf16 serving
graphs, and the SavedModel's sliding-window signature for large images.

The session's tiny trained run is exported once with ONNX and a sliding
window (conftest's `voc_export`, shared with test_export.py); the report's
parity checks are asserted, the ONNX model is run in ONNX Runtime, and the
large-image signature is run in a process that cannot import deeplab_tf.
The MobileNetV2 golden weights are converted to ONNX and compared with the
authors' logits.
"""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from deeplab_tf import inference
from deeplab_tf import padding
from deeplab_tf import sliding_window as sw
from deeplab_tf.config import ModelOptions
from deeplab_tf.export import fold_batch_norm as fold
from deeplab_tf.export import lib as export_lib
from deeplab_tf.export import optimize
from deeplab_tf.model import build_model
from tests import helpers as H
from tests.cli_helpers import assert_one_error, run_cli

onnx_lib = pytest.importorskip("deeplab_tf.export.onnx")
pytest.importorskip("tf2onnx")
pytest.importorskip("onnxruntime")

WINDOW = H.EXPORT_WINDOW
STRIDE = H.EXPORT_STRIDE


@pytest.fixture
def exported(voc_export):
  return voc_export


def test_report_checks_onnx_folding_and_sliding(exported):
  report = exported["report"]
  on_disk = json.loads((exported["dir"] / "serving/export_report.json")
                       .read_text())
  assert on_disk["passed"] is True, on_disk["parity"]
  parity = report["parity"]
  # VOC val images of 500 x 3xx: several 129 windows each.
  assert parity["saved_model_sliding"]["label_agreement"] >= 0.999
  assert parity["fold_batch_norm"]["logits_max_rel_diff"] <= 1e-5
  assert parity["saved_model"]["probabilities_max_abs_diff"] <= 1e-4
  assert parity["onnx"]["logits_max_rel_diff"] <= 1e-4
  assert parity["onnx"]["label_agreement"] >= 0.999
  onnx = report["onnx"]
  assert onnx["path"] == str(exported["dir"] / "serving" /
                             "deeplab_mobilenet_v2.onnx")
  assert onnx["opset"] == 17
  assert onnx["inputs"] == {"images": ["?", "?", "?", 3]}
  assert onnx["outputs"]["logits"] == ["?", "?", "?", H.VOC_CLASSES]
  assert onnx["outputs"]["semantic_predictions"] == ["?", "?", "?"]


def test_onnx_runtime_on_other_sizes_and_batches(exported):
  opts, model = exported["opts"], exported["model"]
  with open(exported["report"]["onnx"]["path"], "rb") as f:
    runner = onnx_lib.OnnxRunner(f.read(), num_threads=1)
  root = H.voc_root(exported["data"])
  image = H.read_rgb(root / "JPEGImages/labelme_2011_000003.jpg")
  for batch in (image[np.newaxis, :97, :113],
                np.stack([image[:200, :150], image[50:250, 10:160]])):
    out = runner(batch)
    labels = inference.predict_labels(
        model, batch, crop_size=H.VOC_CROP,
        mean_pixel=opts.mean_pixel).numpy()
    assert out["semantic_predictions"].shape == batch.shape[:3]
    assert np.mean(out["semantic_predictions"] == labels) >= 0.999
    padded = padding.pad_to_crop(tf.cast(batch, tf.float32),
                                   H.VOC_CROP, opts.mean_pixel)
    want = model(padded).numpy()
    assert np.abs(out["logits"] - want).max() <= 1e-4 * np.abs(want).max()
  with pytest.raises(ValueError, match="uint8"):
    runner(image[np.newaxis].astype(np.float32))


FRESH_PROCESS = r"""
import sys
sys.modules["deeplab_tf"] = None  # importing it would fail
import numpy as np
import tensorflow as tf
image = np.load(sys.argv[2])
model = tf.saved_model.load(sys.argv[1])
out = model.signatures["serving_sliding"](images=tf.constant(image))
assert not any(m.startswith("deeplab_tf") for m in sys.modules if sys.modules[m])
np.save(sys.argv[3], out["semantic_predictions"].numpy())
"""


@pytest.mark.slow
def test_large_image_signature_in_a_fresh_process(exported, tmp_path):
  """A real CamVid frame tiled to 720 x 960 (48 windows of 129)."""
  opts, model = exported["opts"], exported["model"]
  frame = H.read_rgb(sorted((exported["data"] / "camvid/val").glob(
      "*.png"))[0])
  large = np.concatenate([np.concatenate([frame, frame[:, ::-1]], 1)] * 2,
                         0)[np.newaxis]
  assert large.shape == (1, 720, 960, 3)
  np.save(tmp_path / "in.npy", large)
  with H.script_in_fresh_process(
      tmp_path, FRESH_PROCESS, exported["report"]["saved_model"],
      tmp_path / "in.npy", tmp_path / "out.npy"):
    # The expected labels are computed while that process runs.
    window = sw.SlidingWindow(WINDOW, STRIDE, batch_size=2)
    expected = tf.function(lambda x: sw.predict_sliding(
        model, x, window=window, mean_pixel=opts.mean_pixel,
        num_classes=opts.num_classes))(tf.constant(large)).numpy()
  labels = np.load(tmp_path / "out.npy")
  assert labels.dtype == np.int32 and labels.shape == (1, 720, 960)
  assert np.mean(labels == expected) >= 0.999


@pytest.mark.parametrize("opts", [
    H.voc_tiny_options(),
    ModelOptions(model_variant="resnet_v1_50_beta", num_classes=5,
                 atrous_rates=(1, 2, 3),
                 aspp_convs_filters=32, decoder_filters=32,
                 aspp_with_separable_conv=False,
                 decoder_use_separable_conv=False)],
                         ids=["mobilenet_v2", "resnet_v1_50_beta"])
def test_folded_equals_unfolded(opts):
  model = build_model(opts, upsample_logits=False)
  H.random_bn_statistics(model)
  batch_norms = [l.name for l in model.layers
                 if isinstance(l, keras.layers.BatchNormalization)]
  pairs = fold.foldable_pairs(model)
  assert sorted(pairs.values()) == sorted(batch_norms)  # every BN follows a conv
  folded = fold.fold_batch_norm(model)
  assert not [l for l in folded.layers
              if isinstance(l, keras.layers.BatchNormalization)]
  assert [l.name for l in folded.layers] == [l.name for l in model.layers]
  # Four BN vectors per channel become one bias.
  channels = sum(model.get_layer(b).moving_mean.shape[-1]
                 for b in batch_norms)
  assert model.count_params() - folded.count_params() == 3 * channels
  images = np.random.default_rng(1).uniform(0, 255, (2, 65, 97, 3))
  want = model(images.astype(np.float32)).numpy()
  got = folded(images.astype(np.float32)).numpy()
  assert np.abs(got - want).max() <= 1e-5 * np.abs(want).max()


def test_bf16_variant_agrees_on_real_images(exported):
  data_dir, opts, model = exported["data"], exported["opts"], exported["model"]
  bf16 = optimize.serving_model(opts, model, precision="mixed_bfloat16")
  assert any(l.compute_dtype == "bfloat16" for l in bf16.layers)
  root = H.voc_root(data_dir)
  agree = []
  for name in ("vainf_b69f5b3_001", "labelme_2011_000003"):
    image = H.read_rgb(root / "JPEGImages" / (name + ".jpg"))[np.newaxis]
    labels = [inference.predict_labels(m, image, crop_size=H.VOC_CROP,
                                       mean_pixel=opts.mean_pixel).numpy()
              for m in (model, bf16)]
    agree.append(np.mean(labels[0] == labels[1]))
  assert np.mean(agree) >= 0.99, agree
  with pytest.raises(ValueError, match="precision"):
    optimize.serving_model(opts, model, precision="float16")


def test_export_config_rejects_bad_windows_and_precision(tmp_path):
  base = ["--checkpoint_dir=%s" % tmp_path, "--export_dir=%s" % (tmp_path / "o")]
  assert_one_error(run_cli("export.py", *base, "--window_size=65,65",
                           "--window_stride=80,80"),
                   "export.py", 2, "larger than window_size")
  assert_one_error(run_cli("export.py", *base, "--window_stride=80,80"),
                   "export.py", 2, "--window_stride needs --window_size")
  with pytest.raises(ValueError, match="precision"):
    export_lib.ExportConfig(str(tmp_path), str(tmp_path / "o"),
                            precision="int4")


@pytest.mark.slow
def test_onnx_matches_the_golden_mobilenet_v2(golden_checkpoint):
  """The authors' MobileNetV2 graph's logits, through ONNX Runtime."""
  from deeplab_tf import load_tf1_checkpoint  # pylint: disable=g-import-not-at-top
  from deeplab_tf.export import serving  # pylint: disable=g-import-not-at-top
  opts = ModelOptions(**H.ZOO_MOBILENET)
  model = build_model(opts, upsample_logits=False)
  load_tf1_checkpoint(model, str(golden_checkpoint.parent))
  module = serving.DeepLabServingModule(
      optimize.serving_model(opts, model), crop_size=(513, 513),
      mean_pixel=opts.mean_pixel, num_classes=opts.num_classes)
  runner = onnx_lib.OnnxRunner(onnx_lib.convert(module))
  golden = np.load(H.GOLDEN / "golden.npz")
  for case in ("sq513", "ns321x417"):
    image = golden[case + "/image"]
    expected = golden[case + "/logits"]
    out = runner(image)
    scale = np.abs(expected).max()
    assert np.abs(out["logits"] - expected).max() <= 3e-4 * scale, case
    keras_logits = model(padding.pad_to_crop(
        tf.cast(image, tf.float32), (513, 513), opts.mean_pixel)).numpy()
    assert np.abs(out["logits"] - keras_logits).max() <= 1e-4 * scale, case
    labels = inference.predict_labels(model, image, crop_size=(513, 513),
                                      mean_pixel=opts.mean_pixel).numpy()
    assert np.mean(out["semantic_predictions"] == labels) >= 0.999, case
