"""TF1 model-zoo checkpoint import: golden parity with the authors' graph,
strictness, options, name-table coverage of the reference configs, and the
CLIs that take a TF1 checkpoint (convert, eval, export)."""

import json

import numpy as np
import pytest
import tensorflow as tf

from deeplab_tf import ModelOptions, build_model, load_tf1_checkpoint
from deeplab_tf.padding import pad_to_crop
from deeplab_tf.layers import resize_align_corners
from deeplab_tf.checkpoint_files import is_tf1_checkpoint
from tests.cli_helpers import assert_one_error, run_cli
from tests.helpers import (GOLDEN, REFERENCE, ZOO_MOBILENET,
                           reference_maker, require, score_val_split)


def _variables(config):
  doc = json.loads(require(REFERENCE / "variables" / (config + ".json"))
                   .read_text())
  return [(v["name"], tuple(v["shape"])) for v in doc["variables"]]


def _write(prefix, specs, fill=None):
  """Writes a TF1 checkpoint; values are distinct per variable so that a
  mix-up of names would be seen (`fill(i)` is variable i's constant)."""
  values = {name: np.full(shape, fill(i) if fill else i, np.float32)
            for i, (name, shape) in enumerate(specs)}
  reference_maker().write_checkpoint(str(prefix), values)
  return values


@pytest.mark.slow
def test_golden_parity_with_the_reference_graph(golden_checkpoint):
  meta = json.loads((GOLDEN / "meta.json").read_text())
  golden = np.load(GOLDEN / "golden.npz")
  opts = ModelOptions(**ZOO_MOBILENET)
  model = build_model(opts, upsample_logits=False)
  report = load_tf1_checkpoint(model, str(golden_checkpoint.parent))
  assert len(report.loaded) == 272 and not report.skipped_model_weights
  for case, crop in meta["case_crop_size"].items():
    image = golden[case + "/image"]
    expected = golden[case + "/logits"]
    padded = pad_to_crop(tf.cast(image, tf.float32), crop, opts.mean_pixel)
    logits = model(padded, training=False).numpy()
    assert logits.shape == expected.shape
    scale = np.abs(expected).max()
    assert np.abs(logits - expected).max() <= 3e-4 * scale, case
    labels = tf.argmax(resize_align_corners(tf.constant(logits), crop),
                       -1).numpy()[:, :image.shape[1], :image.shape[2]]
    golden_labels = golden[case + "/labels"]
    # Labels may differ only at near-ties of the reference's own logits.
    up = resize_align_corners(tf.constant(expected), crop).numpy()[
        :, :image.shape[1], :image.shape[2]]
    top2 = np.sort(up, -1)[..., -2:]
    near_tie = (top2[..., 1] - top2[..., 0]) < 1e-3 * scale
    assert np.all((labels == golden_labels) | near_tie), case


def test_detects_tf1_versus_tf2_checkpoints(tmp_path):
  specs = _variables("mobilenet_v2_os16")
  _write(tmp_path / "tf1" / "model.ckpt", specs)
  assert is_tf1_checkpoint(str(tmp_path / "tf1"))
  model = build_model(ModelOptions(**ZOO_MOBILENET))
  tf2 = tf.train.Checkpoint(model=model).save(str(tmp_path / "tf2" / "ckpt"))
  assert not is_tf1_checkpoint(tf2)
  with pytest.raises(ValueError, match="TF2 object-based"):
    load_tf1_checkpoint(model, tf2)
  with pytest.raises(FileNotFoundError, match="no checkpoint"):
    load_tf1_checkpoint(model, str(tmp_path))


def test_training_state_is_ignored_and_values_land_by_name(tmp_path):
  specs = _variables("mobilenet_v2_os16")
  extra = [("global_step", ()), (specs[0][0] + "/Momentum", specs[0][1]),
           (specs[5][0] + "/ExponentialMovingAverage", specs[5][1])]
  values = _write(tmp_path / "model.ckpt", specs + extra)
  model = build_model(ModelOptions(**ZOO_MOBILENET))
  report = load_tf1_checkpoint(model, str(tmp_path / "model.ckpt"))
  assert len(report.loaded) == len(specs)
  assert sorted(report.ignored_training_state) == sorted(n for n, _ in extra)
  from deeplab_tf.tf1_checkpoint import tf1_name_table
  for name, variable in tf1_name_table(model).items():
    np.testing.assert_array_equal(variable.numpy(), values[name])


@pytest.mark.parametrize("change,expected", [
    ("missing", "missing from the checkpoint"),
    ("extra", "no home in the model"),
    ("shape", "shape mismatches"),
])
def test_strict_loading_lists_the_offending_names(tmp_path, change,
                                                  expected):
  specs = _variables("mobilenet_v2_os16")
  victim = "MobilenetV2/expanded_conv_3/project/weights"
  index = [n for n, _ in specs].index(victim)
  if change == "missing":
    specs.pop(index)
  elif change == "extra":
    specs.append(("MobilenetV2/expanded_conv_99/project/weights", (1, 1, 8,
                                                                   8)))
    victim = "MobilenetV2/expanded_conv_99/project/weights"
  else:
    specs[index] = (victim, (1, 1, 144, 33))
  _write(tmp_path / "model.ckpt", specs)
  model = build_model(ModelOptions(**ZOO_MOBILENET))
  before = [w.numpy().copy() for w in model.weights]
  with pytest.raises(ValueError, match=expected) as error:
    load_tf1_checkpoint(model, str(tmp_path / "model.ckpt"))
  assert victim in str(error.value)
  # Nothing was assigned: a failed load leaves the model as it was.
  for w, b in zip(model.weights, before):
    np.testing.assert_array_equal(w.numpy(), b)


def test_other_class_count_loads_all_but_the_logits(tmp_path):
  _write(tmp_path / "model.ckpt", _variables("mobilenet_v2_os16"))
  model = build_model(ModelOptions(num_classes=19, **ZOO_MOBILENET))
  with pytest.raises(ValueError, match="skip_logits=True"):
    load_tf1_checkpoint(model, str(tmp_path / "model.ckpt"))
  report = load_tf1_checkpoint(model, str(tmp_path / "model.ckpt"),
                               skip_logits=True)
  assert report.skipped_model_weights == ["logits/semantic/biases",
                                          "logits/semantic/weights"]
  assert report.skipped_checkpoint_variables == report.skipped_model_weights
  assert len(report.loaded) == 270
  assert "not restored" in str(report)


def test_backbone_only_for_imagenet_checkpoints(tmp_path):
  specs = [(n, s) for n, s in _variables("mobilenet_v2_os16")
           if n.startswith("MobilenetV2/")]
  # An ImageNet checkpoint also holds the classifier, which has no home.
  specs += [("MobilenetV2/Conv_1/weights", (1, 1, 320, 1280)),
            ("MobilenetV2/Logits/Conv2d_1c_1x1/biases", (1001,))]
  _write(tmp_path / "model.ckpt", specs)
  model = build_model(ModelOptions(model_variant="mobilenet_v2"))
  with pytest.raises(ValueError):
    load_tf1_checkpoint(model, str(tmp_path / "model.ckpt"))
  report = load_tf1_checkpoint(model, str(tmp_path / "model.ckpt"),
                               backbone_only=True)
  assert len(report.loaded) == len(specs) - 2
  assert set(report.skipped_checkpoint_variables) == {
      "MobilenetV2/Conv_1/weights", "MobilenetV2/Logits/Conv2d_1c_1x1/biases"}
  assert "decoder/feature_projection0/weights" in report.skipped_model_weights
  assert all(not n.startswith("MobilenetV2/")
             for n in report.skipped_model_weights)


@pytest.mark.parametrize("config,opts", [
    ("xception_65_os16_dec4_sc", ModelOptions()),
    ("resnet_v1_101_beta_os16_dec4", ModelOptions(
        model_variant="resnet_v1_101_beta", aspp_with_separable_conv=False,
        decoder_use_separable_conv=False)),
])
def test_name_table_covers_the_reference_configs(tmp_path, config, opts):
  """Every reference variable maps to a weight of the same shape, and each
  value lands in the weight of that name."""
  specs = _variables(config)
  _write(tmp_path / "model.ckpt", specs, fill=lambda i: i * 0.5)
  model = build_model(opts)
  report = load_tf1_checkpoint(model, str(tmp_path / "model.ckpt"))
  assert len(report.loaded) == len(specs)
  from deeplab_tf.tf1_checkpoint import tf1_name_table
  table = tf1_name_table(model)
  for i, (name, _) in enumerate(specs):
    assert float(tf.reshape(table[name], [-1])[0]) == i * 0.5, name


def test_convert_cli_writes_a_checkpoint_with_its_configuration(
    tmp_path, golden_checkpoint):
  """No model flag: the checkpoint itself says it is the zoo's MobileNetV2
  without atrous branches or decoder, with 21 classes."""
  from deeplab_tf.run_config import load_run_config, restore_model
  out = tmp_path / "converted"
  result = run_cli("convert_tf1_checkpoint.py",
                   "--tf1_checkpoint=%s" % golden_checkpoint,
                   "--output_dir=%s" % out, "--dataset=pascal_voc_seg")
  assert result.returncode == 0, result.stderr[-3000:]
  run = load_run_config(str(out))
  opts = run.model
  assert opts == ModelOptions(**ZOO_MOBILENET)
  assert run.data.num_classes == 21 and run.data.class_names[15] == "person"
  assert run.origin["tf1_checkpoint"] == str(golden_checkpoint)
  converted = build_model(opts, upsample_logits=False)
  restore_model(converted, str(out))
  direct = build_model(opts, upsample_logits=False)
  load_tf1_checkpoint(direct, str(golden_checkpoint))
  x = np.random.RandomState(0).uniform(0, 255, (1, 65, 65, 3)).astype(
      np.float32)
  np.testing.assert_array_equal(converted(x).numpy(), direct(x).numpy())
  # Refuses to overwrite.
  result = run_cli("convert_tf1_checkpoint.py",
                   "--tf1_checkpoint=%s" % golden_checkpoint,
                   "--output_dir=%s" % out, "--model_variant=mobilenet_v2",
                   "--dataset=pascal_voc_seg")
  assert_one_error(result, "convert_tf1_checkpoint.py", 1,
                   "--output_dir=%s exists and is not empty" % out)


ZOO_FLAGS = ["--model_variant=mobilenet_v2", "--decoder_output_stride=none",
             "--dataset=pascal_voc_seg"]


@pytest.mark.slow
def test_eval_cli_takes_a_tf1_checkpoint_directly(tmp_path, golden_checkpoint,
                                                  voc_records):
  """eval.py --tf_initial_checkpoint scores the TF1 weights exactly as the
  model loaded by load_tf1_checkpoint does, image by image, in memory:
  nothing but the metrics and summaries is written."""
  result = run_cli("eval.py", "--tf_initial_checkpoint=%s" % golden_checkpoint,
                   "--dataset_dir=%s" % voc_records,
                   "--eval_logdir=%s" % tmp_path, *ZOO_FLAGS)
  assert result.returncode == 0, result.stderr[-3000:]
  saved = json.loads((tmp_path / "metrics.json").read_text())
  opts = ModelOptions(**ZOO_MOBILENET)  # the zoo model, crop 513
  direct = build_model(opts, upsample_logits=False)
  load_tf1_checkpoint(direct, str(golden_checkpoint))
  cm, near_ties = score_val_split(direct, voc_records, opts.mean_pixel)
  assert saved["num_images"] == 7
  # The random golden weights leave a few pixels whose two best classes tie
  # to float precision; only those may land differently (the evaluator runs
  # batched in a tf.function).
  got = np.array(saved["confusion_matrix"])
  assert got.sum() == cm.sum()
  moved = int(np.abs(got - cm).sum()) // 2
  assert moved <= near_ties and moved <= 10, (moved, near_ties)
  written = {p.name.split(".")[0] for p in tmp_path.iterdir()}
  assert written == {"metrics", "events"}, written  # no converted copy
  # The model flags describe a TF1 checkpoint; with a train.py run they
  # would conflict, and both sources at once is an error.
  both = run_cli("eval.py", "--tf_initial_checkpoint=%s" % golden_checkpoint,
                 "--checkpoint_dir=%s" % (tmp_path / "tf1_converted"),
                 "--eval_logdir=%s" % tmp_path, *ZOO_FLAGS)
  assert_one_error(both, "eval.py", 2, "not both")


@pytest.mark.slow
def test_export_cli_takes_a_tf1_checkpoint_directly(tmp_path,
                                                    golden_checkpoint,
                                                    voc_records):
  from deeplab_tf import inference
  out = tmp_path / "serving"
  result = run_cli("export.py",
                   "--tf_initial_checkpoint=%s" % golden_checkpoint,
                   "--dataset_dir=%s" % voc_records, "--export_dir=%s" % out,
                   "--crop_size=129,129", "--num_parity=1", *ZOO_FLAGS)
  assert result.returncode == 0, result.stderr[-3000:]
  report = json.loads((out / "export_report.json").read_text())
  assert report["passed"]
  loaded = tf.saved_model.load(report["saved_model"])
  image = np.random.RandomState(3).randint(0, 256, (1, 100, 120, 3))
  served = loaded.signatures["serving_default"](
      images=tf.constant(image, tf.uint8))["semantic_predictions"].numpy()
  opts = ModelOptions(**ZOO_MOBILENET)
  direct = build_model(opts, upsample_logits=False)
  load_tf1_checkpoint(direct, str(golden_checkpoint))
  expected = inference.predict_labels(direct, image.astype(np.float32),
                                      crop_size=(129, 129),
                                      mean_pixel=opts.mean_pixel).numpy()
  np.testing.assert_array_equal(served, expected)
  # Model flags with a train.py checkpoint: its configuration decides.
  clash = run_cli("export.py", "--checkpoint_dir=%s" % tmp_path,
                  "--export_dir=%s" % (tmp_path / "x"),
                  "--model_variant=xception_65")
  assert_one_error(clash, "export.py", 2, "saved configuration")


HEAD_AND_SIGNATURE = ("image_pooling", "aspp", "concat_projection", "decoder",
                      "logits", "MobilenetV2/expanded_conv_16/project",
                      "resnet_v1_101/conv1_1/weights",
                      "xception_65/entry_flow/conv1_1/weights")


def _head_checkpoint(tmp_path, config, keep=HEAD_AND_SIGNATURE):
  """A TF1 checkpoint with the reference variables that describe the model
  (the head, the logits and one backbone variable)."""
  specs = [(n, s) for n, s in _variables(config) if n.startswith(keep)]
  prefix = tmp_path / config / "model.ckpt"
  prefix.parent.mkdir()
  _write(prefix, specs)
  return str(prefix)


@pytest.mark.parametrize("config,expected", [
    ("xception_65_os16_dec4_sc", ModelOptions()),
    ("mobilenet_v2_os16", ModelOptions(**ZOO_MOBILENET)),
    ("resnet_v1_101_beta_os16_dec4", ModelOptions(
        model_variant="resnet_v1_101_beta", aspp_with_separable_conv=False,
        decoder_use_separable_conv=False)),
])
def test_the_checkpoint_records_its_model(tmp_path, config, expected):
  """The reference configurations (README of ../shared/reference) are read
  back from their variable names and shapes alone."""
  from deeplab_tf.tf1_inspect import infer_model_options
  prefix = _head_checkpoint(tmp_path, config)
  assert infer_model_options(prefix) == expected
  # What it does not record comes from the flags: rates follow the stride.
  at8 = infer_model_options(prefix, output_stride=8)
  assert at8 == expected.for_output_stride(8)


def test_flags_that_contradict_the_checkpoint_are_errors(tmp_path):
  from deeplab_tf.tf1_inspect import NO_DECODER, infer_model_options
  prefix = _head_checkpoint(tmp_path, "xception_65_os16_dec4_sc")
  for given, words in [
      (dict(model_variant="resnet_v1_101"), ("model_variant=resnet_v1_101",
                                             "xception_65")),
      (dict(num_classes=19), ("num_classes=19", "num_classes=21")),
      (dict(decoder_output_stride=NO_DECODER), ("has a decoder",)),
      (dict(aspp_with_separable_conv=False), ("aspp_with_separable_conv",)),
  ]:
    with pytest.raises(ValueError) as e:
      infer_model_options(prefix, **given)
    assert all(w in str(e.value) for w in words), str(e.value)
    assert prefix in str(e.value)
  # Another class count is fine when the logits are not loaded.
  assert infer_model_options(prefix, num_classes=19,
                             ignore_logits=True).num_classes == 19
  mobilenet = _head_checkpoint(tmp_path, "mobilenet_v2_os16")
  with pytest.raises(ValueError, match="no atrous ASPP branches"):
    infer_model_options(mobilenet, atrous_rates=(6, 12, 18))
  with pytest.raises(ValueError, match="no decoder"):
    infer_model_options(mobilenet, decoder_output_stride=4)


def test_a_backbone_checkpoint_needs_the_class_count(tmp_path):
  """ImageNet backbones have no logits or head: the class count is asked
  for, the head is the paper's; the depth multiplier is read (0.5 here)."""
  from deeplab_tf.tf1_inspect import infer_model_options
  prefix = tmp_path / "model.ckpt"
  _write(prefix, [("MobilenetV2/Conv/weights", (3, 3, 3, 16)),
                  ("MobilenetV2/expanded_conv_16/project/weights",
                   (1, 1, 480, 160))])
  with pytest.raises(ValueError, match="num_classes"):
    infer_model_options(str(prefix))
  opts = infer_model_options(str(prefix), num_classes=5)
  assert opts == ModelOptions(model_variant="mobilenet_v2", num_classes=5,
                              depth_multiplier=0.5)
