"""Loads the authors' TF1 (slim, name-based) checkpoints into our models.

The name table is mechanical because our layer names are the reference
scopes (`layers.layer_name`): for a layer named `a.b.c` with TF1 scope
`a/b/c`,

    Conv2D.kernel            <- a/b/c/weights
    Conv2D.bias              <- a/b/c/biases
    DepthwiseConv2D.kernel   <- a/b/c/depthwise_weights
    BatchNormalization.gamma <- a/b/c/gamma   (layer `x.BatchNorm`, scope
    .beta / .moving_mean / .moving_variance      `x/BatchNorm`)

Loading is strict: every checkpoint variable must have a home of the same
shape and every model weight must be set, except, by option, the logits
(`skip_logits`, for another class count) and everything outside the backbone
(`backbone_only`, for ImageNet backbone checkpoints, whose classification
layers are then skipped too). Optimizer slots, moving averages and
`global_step` are ignored.
"""

import dataclasses
from typing import Dict, List

import keras
import tensorflow as tf

from deeplab_tf.checkpoint_files import (TF2_OBJECT_GRAPH_KEY,
                                         resolve_checkpoint_prefix)
from deeplab_tf.errors import UserError
from deeplab_tf.layers import scope_of
from deeplab_tf.model import LOGITS_SCOPE

# Checkpoint entries that are training state, not model weights.
_IGNORED_NAMES = {"global_step", TF2_OBJECT_GRAPH_KEY}
_IGNORED_SUFFIXES = ("/Momentum", "/ExponentialMovingAverage", "/Adam",
                     "/Adam_1", "/RMSProp", "/RMSProp_1", "/Adagrad",
                     "/Ftrl", "/Ftrl_1")
_IGNORED_PREFIXES = ("beta1_power", "beta2_power")


def _is_training_state(name: str) -> bool:
  return (name in _IGNORED_NAMES or name.endswith(_IGNORED_SUFFIXES)
          or name.startswith(_IGNORED_PREFIXES))


def tf1_name_table(model: keras.Model) -> Dict[str, tf.Variable]:
  """{TF1 variable name: model variable} for every weight of `model`."""
  table = {}
  for layer in model.layers:
    if not layer.weights:
      continue
    scope = scope_of(layer.name)
    if isinstance(layer, keras.layers.DepthwiseConv2D):
      entries = [("depthwise_weights", layer.kernel)]
    elif isinstance(layer, keras.layers.Conv2D):
      entries = [("weights", layer.kernel)]
      if layer.use_bias:
        entries.append(("biases", layer.bias))
    elif isinstance(layer, keras.layers.BatchNormalization):
      entries = [(n, getattr(layer, n)) for n in
                 ("gamma", "beta", "moving_mean", "moving_variance")]
    else:
      raise TypeError("layer %s (%s) has weights but no TF1 name rule"
                      % (layer.name, type(layer).__name__))
    if len(entries) != len(layer.weights):
      raise TypeError("layer %s has %d weights, the name table knows %d"
                      % (layer.name, len(layer.weights), len(entries)))
    for suffix, variable in entries:
      table["%s/%s" % (scope, suffix)] = variable
  return table


@dataclasses.dataclass
class LoadReport:
  """What `load_tf1_checkpoint` did."""
  checkpoint: str
  loaded: List[str]
  skipped_model_weights: List[str]      # left as they were (by option)
  skipped_checkpoint_variables: List[str]  # not loaded (by option)
  ignored_training_state: List[str]     # slots, EMA, global_step

  def __str__(self):
    lines = ["TF1 checkpoint %s: loaded %d variables"
             % (self.checkpoint, len(self.loaded))]
    if self.skipped_model_weights:
      lines.append("  model weights not restored (%d): %s" % (
          len(self.skipped_model_weights),
          ", ".join(self.skipped_model_weights)))
    if self.skipped_checkpoint_variables:
      lines.append("  checkpoint variables skipped (%d): %s" % (
          len(self.skipped_checkpoint_variables),
          ", ".join(self.skipped_checkpoint_variables)))
    if self.ignored_training_state:
      lines.append("  training state ignored: %d variables"
                   % len(self.ignored_training_state))
    return "\n".join(lines)


def _backbone_prefix(model: keras.Model, table) -> str:
  """The backbone's scope, read from the model's own layer names."""
  for name in table:
    top = name.split("/", 1)[0]
    if top in ("MobilenetV2",) or top.startswith(("xception_", "resnet_v1_")):
      return top + "/"
  raise ValueError("model %s has no recognisable backbone scope" % model.name)


def _open_tf1_reader(checkpoint: str):
  """(prefix, reader, {name: shape}) of a TF1 checkpoint; rejects TF2 ones."""
  prefix = resolve_checkpoint_prefix(checkpoint)
  reader = tf.train.load_checkpoint(prefix)
  shapes = reader.get_variable_to_shape_map()
  if TF2_OBJECT_GRAPH_KEY in shapes:
    raise UserError("%s is a TF2 object-based checkpoint, not a TF1 one; "
                    "restore it with tf.train.Checkpoint" % prefix)
  return prefix, reader, shapes


def _expected_weights(table, backbone: str, skip_logits: bool,
                      backbone_only: bool):
  """(model weights to load {name: variable}, sorted names left as they are)."""
  def wanted(name: str) -> bool:
    if skip_logits and name.startswith(LOGITS_SCOPE + "/"):
      return False
    if backbone_only and not name.startswith(backbone):
      return False
    return True

  expected = {n: v for n, v in table.items() if wanted(n)}
  skipped_model = sorted(n for n in table if n not in expected)
  return expected, skipped_model


def _sort_checkpoint_names(shapes, expected, skip_logits: bool,
                           backbone_only: bool):
  """(training state, unexpected, skipped) checkpoint names, each sorted."""
  ignored = sorted(n for n in shapes if _is_training_state(n))
  ckpt_names = [n for n in shapes if not _is_training_state(n)]

  # Checkpoint variables we may skip: the logits (by option) and, for
  # backbone-only loading, whatever the backbone does not have.
  def skippable(name: str) -> bool:
    if skip_logits and name.startswith(LOGITS_SCOPE + "/"):
      return True
    return backbone_only and name not in expected
  unexpected = sorted(n for n in ckpt_names
                      if n not in expected and not skippable(n))
  skipped_ckpt = sorted(n for n in ckpt_names
                        if n not in expected and skippable(n))
  return ignored, unexpected, skipped_ckpt


def _check_fit(prefix: str, model: keras.Model, shapes, expected,
               unexpected: List[str], skip_logits: bool) -> None:
  """Raises UserError listing missing, unexpected and mis-shaped names."""
  missing = sorted(n for n in expected if n not in shapes)
  mismatched = sorted(
      "%s: checkpoint %s vs model %s" % (n, list(shapes[n]),
                                         list(expected[n].shape))
      for n in expected if n in shapes
      and tuple(shapes[n]) != tuple(expected[n].shape))
  problems = []
  if missing:
    problems.append("model weights missing from the checkpoint (%d):\n  %s"
                    % (len(missing), "\n  ".join(missing)))
  if unexpected:
    problems.append("checkpoint variables with no home in the model (%d):\n"
                    "  %s" % (len(unexpected), "\n  ".join(unexpected)))
  if mismatched:
    problems.append("shape mismatches (%d):\n  %s"
                    % (len(mismatched), "\n  ".join(mismatched)))
  if problems:
    hint = ""
    if any(n.startswith(LOGITS_SCOPE) for n in mismatched) and not skip_logits:
      hint = "\n(the class count differs: pass skip_logits=True)"
    raise UserError("TF1 checkpoint %s does not fit model %s:\n%s%s"
                    % (prefix, model.name, "\n".join(problems), hint))


def _assign_weights(reader, expected) -> None:
  """Copies each expected checkpoint tensor into its model variable."""
  for name, variable in expected.items():
    variable.assign(reader.get_tensor(name).astype(variable.dtype))


def load_tf1_checkpoint(model: keras.Model, checkpoint: str, *,
                        skip_logits: bool = False,
                        backbone_only: bool = False) -> LoadReport:
  """Loads a TF1 checkpoint (prefix or directory) into a `build_model` model.

  Args:
    model: a model from `deeplab_tf.build_model`.
    checkpoint: TF1 checkpoint prefix (e.g. `.../model.ckpt`) or directory.
    skip_logits: leave `logits/semantic` untouched and skip the checkpoint's
      logits (another class count).
    backbone_only: load only the backbone (ImageNet checkpoints); the head
      keeps its initialisation and checkpoint variables outside the model's
      backbone layers (classification logits, MobileNetV2's Conv_1) are
      skipped.

  Returns:
    A LoadReport. Raises ValueError listing every missing, unexpected or
    mis-shaped name when the checkpoint does not fit.
  """
  prefix, reader, shapes = _open_tf1_reader(checkpoint)
  table = tf1_name_table(model)
  backbone = _backbone_prefix(model, table)
  expected, skipped_model = _expected_weights(table, backbone, skip_logits,
                                              backbone_only)
  ignored, unexpected, skipped_ckpt = _sort_checkpoint_names(
      shapes, expected, skip_logits, backbone_only)
  _check_fit(prefix, model, shapes, expected, unexpected, skip_logits)
  _assign_weights(reader, expected)
  return LoadReport(checkpoint=prefix, loaded=sorted(expected),
                    skipped_model_weights=skipped_model,
                    skipped_checkpoint_variables=skipped_ckpt,
                    ignored_training_state=ignored)
