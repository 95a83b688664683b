"""Initialising a model from a checkpoint, and resuming a run.

`--tf_initial_checkpoint` may be
  * a TF2 checkpoint written by train.py (object-based): it is restored into
    a twin model built with the checkpoint's own class count, and weights are
    copied layer by layer by name, so a different class count is no crash
    ("Assign requires shapes" in the reference) but a skipped logits layer;
  * a TF1 (model-zoo, name-based) checkpoint: loaded through
    `deeplab_tf.tf1_checkpoint`.
Layers excluded by `initialize_last_layer=False` keep their initialisation:
only the logits when `last_layers_contain_logits_only`, else the whole head
(logits, image pooling, ASPP, projection, decoder), like the reference.
"""

import dataclasses
import logging
from typing import List, Optional

import keras
import tensorflow as tf

from deeplab_tf import tf1_checkpoint
from deeplab_tf.checkpoint_files import (TF2_OBJECT_GRAPH_KEY,
                                         is_tf1_checkpoint,
                                         resolve_checkpoint_prefix)
from deeplab_tf.errors import UserError
from deeplab_tf.model import LOGITS_SCOPE, build_model
from deeplab_tf.layers import layer_name, scope_of

LOGITS_LAYER = layer_name(LOGITS_SCOPE)
# The reference's `last_layers` scopes (train.py, _LOGITS... + head).
HEAD_PREFIXES = ("logits", "image_pooling", "aspp", "concat_projection",
                 "decoder")


@dataclasses.dataclass
class InitReport:
  """What initialisation did: layer names restored and left as initialised."""
  checkpoint: str
  kind: str  # "tf2" or "tf1"
  restored: List[str]
  not_restored: List[str]
  reason: str = ""

  def __str__(self):
    lines = ["initialised from %s checkpoint %s: %d layers restored"
             % (self.kind.upper(), self.checkpoint, len(self.restored))]
    if self.not_restored:
      lines.append("  not restored (%s), %d layers: %s"
                   % (self.reason or "excluded", len(self.not_restored),
                      ", ".join(self.not_restored)))
    else:
      lines.append("  every layer restored")
    return "\n".join(lines)


def tf2_checkpoint_num_classes(prefix: str) -> Optional[int]:
  """Class count of a train.py checkpoint: the length of the logits bias
  (the model's only Conv2D bias), found through the checkpoint's object
  graph (a variable is stored under one of its paths, which may be the
  optimizer's)."""
  from tensorflow.core.protobuf import trackable_object_graph_pb2
  reader = tf.train.load_checkpoint(prefix)
  graph = trackable_object_graph_pb2.TrackableObjectGraph()
  graph.ParseFromString(reader.get_tensor(TF2_OBJECT_GRAPH_KEY))
  shapes = reader.get_variable_to_shape_map()

  def child(node_id, name):
    for ref in graph.nodes[node_id].children:
      if ref.local_name == name:
        return ref.node_id
    return None

  model = child(0, "model")
  operations = child(model, "_operations") if model is not None else None
  if operations is None:
    return None
  found = []
  for ref in graph.nodes[operations].children:
    bias = child(ref.node_id, "bias")
    if bias is None:
      continue
    for attribute in graph.nodes[bias].attributes:
      shape = shapes.get(attribute.checkpoint_key)
      if shape is not None and len(shape) == 1:
        found.append(int(shape[0]))
  return found[0] if len(found) == 1 else None


def tf1_checkpoint_num_classes(prefix: str) -> Optional[int]:
  for name, shape in tf.train.list_variables(prefix):
    if name == LOGITS_SCOPE + "/biases":
      return int(shape[0])
  return None


def excluded_layers(model: keras.Model, initialize_last_layer: bool,
                    last_layers_contain_logits_only: bool) -> List[str]:
  """Names of weighted layers `initialize_last_layer=False` leaves alone."""
  if initialize_last_layer:
    return []
  prefixes = (("logits",) if last_layers_contain_logits_only
              else HEAD_PREFIXES)
  return [l.name for l in model.layers
          if l.weights and l.name.startswith(prefixes)]


def _load_tf2(model, opts, prefix, exclude, num_classes_differ):
  source_opts = opts
  if num_classes_differ:
    source_opts = opts.replace(num_classes=tf2_checkpoint_num_classes(prefix))
  with tf.device("/cpu:0"):
    source = build_model(source_opts, upsample_logits=False)
  status = tf.train.Checkpoint(model=source).restore(prefix)
  status.expect_partial()
  try:
    status.assert_existing_objects_matched()
  except AssertionError as e:
    raise UserError(
        "--tf_initial_checkpoint=%s does not fit a %s model (another "
        "architecture?): %s" % (prefix, opts.model_variant, e)) from None
  restored, skipped = [], []
  for layer in model.layers:
    if not layer.weights:
      continue
    if layer.name in exclude:
      skipped.append(layer.name)
      continue
    layer.set_weights(source.get_layer(layer.name).get_weights())
    restored.append(layer.name)
  return restored, skipped


def initialize_from_checkpoint(model: keras.Model, opts, checkpoint: str, *,
                               initialize_last_layer: bool = True,
                               last_layers_contain_logits_only: bool = False
                               ) -> InitReport:
  """Loads `checkpoint` into `model` (built from `opts`); see module doc.

  Returns an InitReport (also logged) listing what was and was not restored.
  Raises FileNotFoundError / ValueError naming --tf_initial_checkpoint.
  """
  try:
    prefix = resolve_checkpoint_prefix(checkpoint)
  except (FileNotFoundError, ValueError) as e:
    raise type(e)("--tf_initial_checkpoint: %s" % e) from None
  exclude = excluded_layers(model, initialize_last_layer,
                            last_layers_contain_logits_only)
  reasons = []
  if exclude:
    reasons.append("--initialize_last_layer=false")
  if not is_tf1_checkpoint(prefix):
    ckpt_classes = tf2_checkpoint_num_classes(prefix)
    differ = ckpt_classes is not None and ckpt_classes != opts.num_classes
    if differ and LOGITS_LAYER not in exclude:
      exclude.append(LOGITS_LAYER)
    if differ:
      reasons.append("checkpoint has %d classes, model %d"
                     % (ckpt_classes, opts.num_classes))
    restored, skipped = _load_tf2(model, opts, prefix, set(exclude), differ)
    report = InitReport(prefix, "tf2", restored, skipped, "; ".join(reasons))
  else:
    ckpt_classes = tf1_checkpoint_num_classes(prefix)
    differ = ckpt_classes is not None and ckpt_classes != opts.num_classes
    if differ:
      reasons.append("checkpoint has %d classes, model %d"
                     % (ckpt_classes, opts.num_classes))
    head_excluded = bool(exclude) and not last_layers_contain_logits_only
    try:
      load = tf1_checkpoint.load_tf1_checkpoint(
          model, prefix, skip_logits=differ or bool(exclude),
          backbone_only=head_excluded)
    except ValueError as e:
      raise UserError("--tf_initial_checkpoint: %s" % e) from None
    logging.info("%s", load)
    loaded_layers = {n.rsplit("/", 1)[0] for n in load.loaded}
    restored, skipped = [], []
    for layer in model.layers:
      if not layer.weights:
        continue
      scope = scope_of(layer.name)
      (restored if scope in loaded_layers else skipped).append(layer.name)
    report = InitReport(prefix, "tf1", restored, skipped, "; ".join(reasons))
  logging.info("%s", report)
  return report
