"""The model against the reference facts: shapes, parameter counts, BN
settings, layer names, serialisation, output-stride weight reuse, options."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from deeplab_tf import ModelOptions, build_model, paper_atrous_rates
from deeplab_tf.config import MODEL_VARIANTS
from deeplab_tf.layers import scope_of
from deeplab_tf.run_config import restore_model
from tests.helpers import REFERENCE, require

SIZE = 65  # small odd input: 65 -> 33 -> 17 -> 9 -> 5 -> 3


def _opts(variant, output_stride=16, decoder=4, **kw):
  return ModelOptions(model_variant=variant, output_stride=output_stride,
                      atrous_rates=paper_atrous_rates(output_stride), decoder_output_stride=decoder,
                      **kw)


def _native_size(stride):
  return (SIZE - 1) // stride + 1


@pytest.mark.parametrize("variant", MODEL_VARIANTS)
@pytest.mark.parametrize("output_stride", [8, 16, 32])
@pytest.mark.parametrize("decoder", [4, None])
def test_output_shapes(variant, output_stride, decoder):
  model = build_model(_opts(variant, output_stride, decoder, num_classes=5),
                      input_shape=(SIZE, SIZE, 3))
  assert model.output_shape == (None, SIZE, SIZE, 5)
  native = model.get_layer("logits.semantic").output.shape
  stride = decoder or output_stride
  assert tuple(native[1:]) == (_native_size(stride), _native_size(stride), 5)
  if output_stride == 16:  # one real forward pass per backbone and head
    x = np.random.RandomState(0).uniform(0, 255, (2, SIZE, SIZE, 3))
    y = model(x.astype(np.float32), training=False)
    assert y.shape == (2, SIZE, SIZE, 5) and y.dtype == tf.float32
    assert np.isfinite(y.numpy()).all()


def test_any_input_size_and_native_logits():
  opts = _opts("mobilenet_v2", num_classes=3)
  model = build_model(opts)
  native = build_model(opts, upsample_logits=False)
  for h, w in [(65, 65), (50, 77)]:
    x = np.zeros((1, h, w, 3), np.float32)
    assert model(x).shape == (1, h, w, 3)
    assert native(x).shape == (1, (h - 1) // 4 + 1, (w - 1) // 4 + 1, 3)


REFERENCE_CONFIGS = {
    "xception_65_os16_dec4_sc": ModelOptions(),
    "mobilenet_v2_os16": ModelOptions(
        model_variant="mobilenet_v2", atrous_rates=None,
        decoder_output_stride=None),
    "resnet_v1_101_beta_os16_dec4": ModelOptions(
        model_variant="resnet_v1_101_beta", aspp_with_separable_conv=False,
        decoder_use_separable_conv=False),
}


@pytest.mark.parametrize("config", sorted(REFERENCE_CONFIGS))
def test_matches_reference_variables(config):
  """Parameter count, every variable name/shape and every BN setting equal
  the reference graph's (../shared/reference/variables)."""
  ref = json.loads(require(REFERENCE / "variables" / (config + ".json"))
                   .read_text())
  model = build_model(REFERENCE_CONFIGS[config])
  assert model.count_params() == ref["num_params"]
  from deeplab_tf.tf1_checkpoint import tf1_name_table
  ours = {n: tuple(v.shape) for n, v in tf1_name_table(model).items()}
  theirs = {v["name"]: tuple(v["shape"]) for v in ref["variables"]}
  assert ours == theirs
  bn_layers = {scope_of(l.name): l for l in model.layers
               if isinstance(l, keras.layers.BatchNormalization)}
  assert set(bn_layers) == {b["scope"] for b in ref["batch_norm"]}
  for b in ref["batch_norm"]:
    layer = bn_layers[b["scope"]]
    assert layer.epsilon == pytest.approx(b["epsilon"], rel=1e-6), b["scope"]
    assert layer.momentum == pytest.approx(b["decay"]), b["scope"]
    assert layer.center and layer.scale


@pytest.mark.parametrize("variant,tap", [
    ("xception_65", "xception_65/entry_flow/block2/unit_1/xception_module/"
                    "separable_conv2_pointwise/BatchNorm"),
    ("xception_71", "xception_71/entry_flow/block3/unit_1/xception_module/"
                    "separable_conv2_pointwise/BatchNorm"),
    ("resnet_v1_50_beta", "resnet_v1_50/block1/unit_2/bottleneck_v1/conv3/"
                          "BatchNorm"),
    ("mobilenet_v2", "MobilenetV2/expanded_conv_2/depthwise/relu6"),
])
def test_decoder_tap_is_the_reference_end_point(variant, tap):
  """The decoder reads the reference's stride-4 end point (a BN output before
  ReLU for Xception/ResNet, the depthwise output after ReLU6 for MobileNet)."""
  model = build_model(_opts(variant))
  source = model.get_layer("decoder.feature_projection0").input
  assert scope_of(source._keras_history.operation.name) == tap


def test_get_config_round_trip_and_keras_file(tmp_path):
  model = build_model(_opts("mobilenet_v2", num_classes=4))
  x = np.random.RandomState(1).uniform(0, 255, (1, 65, 65, 3)).astype(
      np.float32)
  expected = model(x, training=False).numpy()
  clone = keras.Model.from_config(model.get_config())
  clone.set_weights(model.get_weights())
  np.testing.assert_array_equal(clone(x, training=False).numpy(), expected)
  path = str(tmp_path / "m.keras")
  model.save(path)
  loaded = keras.models.load_model(path)
  np.testing.assert_array_equal(loaded(x, training=False).numpy(), expected)


def test_one_set_of_weights_serves_every_output_stride(tmp_path):
  opts16 = _opts("resnet_v1_50_beta", 16, num_classes=3)
  opts8 = opts16.for_output_stride(8)
  assert opts8.atrous_rates == (12, 24, 36)
  m16, m8 = build_model(opts16), build_model(opts8)
  assert [(w.path, w.shape) for w in m16.weights] == [
      (w.path, w.shape) for w in m8.weights]
  # Atrous rates follow the output stride: block4 and the ASPP.
  conv2 = "resnet_v1_50.block4.unit_1.bottleneck_v1.conv2"
  assert m16.get_layer(conv2).dilation_rate == (2, 2)
  assert m8.get_layer(conv2).dilation_rate == (4, 4)
  assert m8.get_layer("aspp3_depthwise").dilation_rate == (36, 36)
  prefix = tf.train.Checkpoint(model=m16).save(str(tmp_path / "ckpt"))
  restore_model(m8, prefix)
  for a, b in zip(m16.weights, m8.weights):
    np.testing.assert_array_equal(a.numpy(), b.numpy())
  x = np.random.RandomState(2).uniform(0, 255, (1, 65, 65, 3)).astype(
      np.float32)
  assert m8(x, training=False).shape == m16(x, training=False).shape


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_gives_float32_logits(policy):
  previous = keras.config.dtype_policy()
  keras.config.set_dtype_policy(policy)
  try:
    model = build_model(_opts("mobilenet_v2", num_classes=3))
    x = np.random.RandomState(3).uniform(0, 255, (1, 65, 65, 3)).astype(
        np.float32)
    y = model(x, training=False)
    assert y.dtype == tf.float32 and np.isfinite(y.numpy()).all()
    assert model.get_layer("MobilenetV2.Conv").compute_dtype != "float32"
  finally:
    keras.config.set_dtype_policy(previous)


@pytest.mark.parametrize("kwargs,message", [
    (dict(model_variant="vgg16"), "model_variant"),
    (dict(output_stride=12), "output_stride"),
    (dict(atrous_rates=(0, 6, 12)), "must be positive"),
    (dict(decoder_output_stride=16), "decoder_output_stride"),
    (dict(output_stride=8, decoder_output_stride=8,
          atrous_rates=(12, 24, 36)), "smaller than output_stride"),
    (dict(multi_grid=(1, 2)), "multi_grid"),
    (dict(model_variant="mobilenet_v2", multi_grid=(1, 2, 4)), "multi_grid"),
    (dict(depth_multiplier=0.5), "depth_multiplier"),
    (dict(num_classes=0), "num_classes"),
    (dict(decoder_output_stride=[8, 4]), "one decoder stage"),
])
def test_invalid_options_fail_clearly(kwargs, message):
  with pytest.raises(ValueError, match=message):
    ModelOptions(**kwargs)


@pytest.mark.parametrize("kwargs,crop,message", [
    (dict(atrous_rates=(12, 24, 36)), (513, 513),
     r"do not fit output_stride=16: at --train_crop_size=513,513 the "
     r"feature map is 33 pixels"),
    (dict(output_stride=32, atrous_rates=(6, 12, 18)), (513, 513),
     "feature map is 17 pixels"),
    (dict(), (257, 15), r"--train_crop_size=257,15 is smaller than "
     r"--output_stride=16"),
])
def test_a_crop_the_model_cannot_use_fails_clearly(kwargs, crop, message):
  """The crop is data, not a model option: the model checks it."""
  opts = ModelOptions(**kwargs)
  with pytest.raises(ValueError, match=message):
    opts.check_crop(crop)
  opts.check_crop((1025, 2049))  # the Cityscapes crop fits


def test_options_round_trip_json():
  opts = ModelOptions(model_variant="resnet_v1_101", multi_grid=[1, 2, 4],
                      atrous_rates=[6, 12, 18])
  again = ModelOptions.from_json(opts.to_json())
  assert again == opts and again.multi_grid == (1, 2, 4)
  assert opts.mean_pixel == (123.15, 115.90, 103.06)
  with pytest.raises(ValueError, match="unknown ModelOptions fields"):
    ModelOptions.from_dict({"model_varient": "xception_65"})


@pytest.mark.parametrize("variant", ["xception_41", "resnet_v1_50",
                                     "mobilenet_v2"])
def test_layer_list_does_not_depend_on_output_stride(variant):
  """Checkpoints of functional models are keyed by layer position: the same
  layers, in the same order, must exist at every output stride."""
  names = [[l.name for l in build_model(_opts(variant, os)).layers]
           for os in (8, 16, 32)]
  assert names[0] == names[1] == names[2]
