"""BatchNorm folded into the preceding convolution, for inference graphs.

At inference a BatchNorm is a per-channel affine map, y = x * s + t with
s = gamma / sqrt(moving_variance + epsilon) and t = beta - moving_mean * s.
After a Conv2D / DepthwiseConv2D whose output feeds only that BatchNorm, it
is absorbed into the convolution: kernel * s per output channel and a bias
(old bias * s + t). The folded model has the same layers and names with
every such BatchNorm replaced by an identity, so TF's fused conv + bias (+
relu) CPU kernels apply and four per-channel vectors per layer disappear.

Only for exported inference graphs: the folded model has no BatchNorm to
train. Outputs equal the original's to float rounding (checked in tests and
in the export report, relative to the largest logit).
"""

from typing import Dict, Optional, Tuple

import keras
import numpy as np

FOLDABLE_CONVS = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)


@keras.saving.register_keras_serializable(package="deeplab_tf")
class FoldedBatchNorm(keras.layers.Layer):
  """What a folded BatchNorm becomes: the identity, BN's call signature."""

  def call(self, inputs, training=None, mask=None):  # pylint: disable=unused-argument
    return inputs

  def compute_output_shape(self, input_shape):
    return input_shape


def _producer(layer):
  """The layer whose output `layer` is called on (one inbound node)."""
  nodes = layer._inbound_nodes  # pylint: disable=protected-access
  if len(nodes) != 1 or len(nodes[0].input_tensors) != 1:
    return None
  history = nodes[0].input_tensors[0]._keras_history  # pylint: disable=protected-access
  return history.operation if history else None


def foldable_pairs(model: keras.Model) -> Dict[str, str]:
  """{conv layer name: BatchNorm layer name} for every foldable pair.

  A pair is a BatchNorm (inference mode, no renorm) whose single input is
  the output of a Conv2D / DepthwiseConv2D used by nothing else.
  """
  pairs = {}
  for layer in model.layers:
    if not isinstance(layer, keras.layers.BatchNormalization):
      continue
    conv = _producer(layer)
    if not isinstance(conv, FOLDABLE_CONVS) or conv.name in pairs:
      continue
    if len(conv._outbound_nodes) != 1 or len(conv._inbound_nodes) != 1:  # pylint: disable=protected-access
      continue
    axis = layer.axis if isinstance(layer.axis, (list, tuple)) else [
        layer.axis]
    if tuple(axis) not in ((-1,), (3,)):  # channels-last only
      continue
    pairs[conv.name] = layer.name
  return pairs


def folded_weights(conv, bn) -> Tuple[np.ndarray, np.ndarray]:
  """(kernel, bias) of `conv` with `bn` absorbed (float64 arithmetic)."""
  channels = bn.moving_mean.shape[-1]
  gamma = (np.asarray(bn.gamma.numpy(), np.float64) if bn.scale
           else np.ones(channels))
  beta = (np.asarray(bn.beta.numpy(), np.float64) if bn.center
          else np.zeros(channels))
  mean = np.asarray(bn.moving_mean.numpy(), np.float64)
  var = np.asarray(bn.moving_variance.numpy(), np.float64)
  scale = gamma / np.sqrt(var + bn.epsilon)
  kernel_var = conv.kernel
  kernel = np.asarray(kernel_var.numpy(), np.float64)
  if isinstance(conv, keras.layers.DepthwiseConv2D):
    # [kh, kw, in, multiplier]; output channel = in * multiplier + m.
    kernel = kernel * scale.reshape(kernel.shape[2], kernel.shape[3])
  else:
    kernel = kernel * scale
  bias = (np.asarray(conv.bias.numpy(), np.float64) if conv.use_bias
          else np.zeros(channels))
  bias = (bias - mean) * scale + beta
  dtype = kernel_var.dtype
  return kernel.astype(dtype), bias.astype(dtype)


def fold_batch_norm(model: keras.Model,
                    pairs: Optional[Dict[str, str]] = None) -> keras.Model:
  """A copy of `model` with each foldable BatchNorm absorbed into its conv.

  Args:
    model: a functional Keras model (e.g. `build_model(...)`).
    pairs: {conv name: BN name} to fold; None = `foldable_pairs(model)`.
  Returns:
    A new functional model with the same inputs, outputs and layer names;
    folded BatchNorm layers are `FoldedBatchNorm` (identity), their convs gain a
    bias. The original model is unchanged.
  """
  pairs = foldable_pairs(model) if pairs is None else dict(pairs)
  folded_bns = set(pairs.values())

  def clone(layer):
    config = layer.get_config()
    if layer.name in folded_bns:
      return FoldedBatchNorm(name=layer.name, dtype=config.get("dtype"))
    if layer.name in pairs:
      config = dict(config, use_bias=True)
    return layer.__class__.from_config(config)

  folded = keras.models.clone_model(model, clone_function=clone)
  for layer in model.layers:
    if layer.name in folded_bns or not layer.weights:
      continue
    target = folded.get_layer(layer.name)
    if layer.name in pairs:
      bn = model.get_layer(pairs[layer.name])
      target.set_weights(list(folded_weights(layer, bn)))
    else:
      target.set_weights(layer.get_weights())
  return folded
