"""Pretrained models by name: the authors' model zoo.

    from deeplab_tf import zoo
    model = zoo.load_model("xception65_coco_voc_trainaug")      # OS16
    model_os8 = zoo.load_model("xception65_coco_voc_trainaug", output_stride=8)
    opts = zoo.options("mobilenetv2_coco_voc_trainaug")
    run_dir = zoo.checkpoint("mobilenetv2_coco_voc_trainaug")  # ckpt-0 + config

The first use of a name downloads the tarball, loads it strictly into the
registry's model and caches the converted run directory (see `cache`); later
uses read only the cache. `python -m deeplab_tf.zoo list` prints the table;
`--tf_initial_checkpoint=zoo:<name>` works in train.py, eval.py, export.py.
"""

import difflib
from typing import List, Optional

from deeplab_tf.config import ModelOptions
from deeplab_tf.zoo.cache import ZooError, cache_root, ensure_converted
from deeplab_tf.zoo.registry import (BACKBONE, DATASET_ORDER, MODEL,
                                     REGISTRY, EvalRow, ZooEntry,
                                     normalize_name)

__all__ = ["BACKBONE", "MODEL", "REGISTRY", "EvalRow", "ZooEntry",
           "ZooError", "cache_root", "checkpoint", "entry", "load_model",
           "loadable_entry",
           "names", "options"]


def names(include_refused: bool = True) -> List[str]:
  """Registry names, by dataset in the zoo's order."""
  entries = sorted(REGISTRY.values(),
                   key=lambda e: DATASET_ORDER.index(e.dataset))
  return [e.name for e in entries if include_refused or not e.refused]


def entry(name: str) -> ZooEntry:
  """The registry entry of `name` (ZooError naming close matches if none)."""
  key = normalize_name(name)
  if key in REGISTRY:
    return REGISTRY[key]
  close = difflib.get_close_matches(key, list(REGISTRY), n=3, cutoff=0.5)
  raise ZooError("unknown zoo model %r%s; `python -m deeplab_tf.zoo list` "
                 "shows all %d names" % (
                     name, " (did you mean %s?)" % ", ".join(close)
                     if close else "", len(REGISTRY)))


def loadable_entry(name: str) -> ZooEntry:
  """The entry, or ZooError with the reason deeplab_tf cannot load it."""
  e = entry(name)
  if e.refused:
    raise ZooError("zoo model %s cannot be loaded: %s" % (e.name, e.refused))
  return e


def options(name: str) -> ModelOptions:
  """The ModelOptions that reproduce `name` (at its training stride)."""
  return loadable_entry(name).options


def checkpoint(name: str, *, cache_dir: Optional[str] = None) -> str:
  """The converted run directory (`ckpt-0` + deeplab_config.json) of
  `name`, downloaded and converted on first use. Backbone entries hold the
  backbone's weights with the head as initialised (backbone_only), and their
  TF1 checkpoint in `tf1/` for train.py."""
  return ensure_converted(loadable_entry(name), cache_dir)


def load_model(name: str, *, output_stride: Optional[int] = None,
               upsample_logits: bool = True,
               cache_dir: Optional[str] = None):
  """The Keras model of `name` with its checkpoint loaded.

  Args:
    name: a registry name (`python -m deeplab_tf.zoo list`).
    output_stride: None for the stride it was trained at; 8 (or 32)
      rescales the ASPP rates as the zoo's eval rows do.
    upsample_logits: logits at the input size (True) or at the network's
      own stride (False).
    cache_dir: cache root instead of $DEEPLAB_TF_CACHE / ~/.keras/deeplab_tf.

  Returns:
    A keras.Model mapping float32 RGB [0, 255] to logits (see build_model).
  """
  from deeplab_tf.model import build_model  # pylint: disable=g-import-not-at-top
  from deeplab_tf.run_config import restore_model  # pylint: disable=g-import-not-at-top
  e = loadable_entry(name)
  opts = e.options
  if output_stride is not None and output_stride != opts.output_stride:
    opts = opts.for_output_stride(output_stride)
  directory = ensure_converted(e, cache_dir)
  model = build_model(opts, upsample_logits=upsample_logits)
  restore_model(model, directory)
  return model
