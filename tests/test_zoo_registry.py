"""The zoo registry: the zoo tables' facts, every entry's TF1 variable names
against the reference graphs, and the published Multiply-Adds."""

import json

import pytest

from deeplab_tf import zoo
from deeplab_tf.data import get_dataset_descriptor
from tests.helpers import REFERENCE, require


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
  # `python -m deeplab_tf.zoo list`: every name, refused ones with reasons.
  from deeplab_tf.zoo.__main__ import format_table
  table = format_table()
  assert all(name in table for name in zoo.names())
  assert ("xception71_dpc_cityscapes_trainval: the Dense Prediction Cell"
          in table)
  assert len(format_table("ade20k").splitlines()) == 4   # header + 2
  for name in zoo.names(include_refused=False):
    e = zoo.entry(name)
    if e.kind == zoo.MODEL:
      assert e.num_classes == get_dataset_descriptor(e.dataset).num_classes
    assert e.url.endswith("/" + e.tarball)


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
  from deeplab_tf.tf1_checkpoint import tf1_name_table
  groups = {}
  for name in zoo.names(include_refused=False):
    opts = zoo.options(name)
    groups.setdefault(opts.replace(num_classes=1),
                      []).append(name)
  unverified = []
  for arch, members in groups.items():
    keras.backend.clear_session()
    built = zoo.options(members[0])
    model = build_model(built)
    specs = {n: tuple(v.shape) for n, v in tf1_name_table(model).items()}
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
