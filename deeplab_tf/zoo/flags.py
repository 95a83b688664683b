"""`--tf_initial_checkpoint=zoo:<name>` for train.py, eval.py and export.py.

Each function turns the `zoo:` value into what the CLI already accepts, so
the CLIs change by a few lines:
  * eval.py / export.py: the cached run directory (their --checkpoint_dir),
    whose saved configuration gives the architecture and classes;
  * train.py: the run directory of a trained model (another class count
    skips the logits as for any checkpoint), or the TF1 checkpoint of an
    ImageNet backbone with --initialize_last_layer=false (backbone only);
    unset model flags take the registry's values.
"""

import logging
import os
from typing import Any, Dict, Iterable, Optional

from deeplab_tf.zoo import ZooError, checkpoint, loadable_entry
from deeplab_tf.zoo.cache import TF1_SUBDIR
from deeplab_tf.zoo.registry import BACKBONE

PREFIX = "zoo:"

# train.py flag -> ModelOptions field filled from the registry when unset.
_TRAIN_MODEL_FLAGS = {
    "model_variant": "model_variant", "output_stride": "output_stride",
    "atrous_rates": "atrous_rates",
    "decoder_output_stride": "decoder_output_stride",
    "aspp_with_separable_conv": "aspp_with_separable_conv",
    "decoder_use_separable_conv": "decoder_use_separable_conv",
    "multi_grid": "multi_grid", "depth_multiplier": "depth_multiplier"}


def zoo_name(value: Optional[str]) -> Optional[str]:
  """The name in 'zoo:<name>', or None for any other value."""
  if value and value.startswith(PREFIX):
    return value[len(PREFIX):]
  return None


def run_dir_for_flag(value: str, given_model_flags: Iterable[str] = (),
                     cache_dir: Optional[str] = None) -> str:
  """eval.py / export.py: 'zoo:<name>' -> the converted run directory.

  Raises ZooError if model flags are given (the registry decides the
  architecture) or the entry is an ImageNet backbone (no trained head).
  """
  name = zoo_name(value)
  e = loadable_entry(name)
  given = sorted(given_model_flags)
  if given:
    raise ZooError("--%s: with --tf_initial_checkpoint=%s the model comes "
                   "from the zoo registry; drop these flags"
                   % (", --".join(given), value))
  if e.kind == BACKBONE:
    raise ZooError("--tf_initial_checkpoint=%s is an ImageNet backbone "
                   "without a trained head: fine-tune it with train.py"
                   % value)
  return checkpoint(e.name, cache_dir=cache_dir)


def train_values(values: Dict[str, Any], present: Iterable[str],
                 cache_dir: Optional[str] = None) -> Dict[str, Any]:
  """train.py: flag values with 'zoo:<name>' resolved.

  Args:
    values: train.py's flag values (None = unset), with
      tf_initial_checkpoint='zoo:<name>'.
    present: names of the flags given on the command line.

  Returns:
    A copy of `values`: tf_initial_checkpoint is a path train.py reads,
    unset model flags are the registry's, and for a backbone entry
    initialize_last_layer is False (only the backbone is restored).
  """
  present = set(present)
  value = values["tf_initial_checkpoint"]
  e = loadable_entry(zoo_name(value))
  out = dict(values)
  opts = e.options
  for flag in ("model_variant", "depth_multiplier"):  # the backbone itself
    if flag in present and values.get(flag) not in (None,
                                                    getattr(opts, flag)):
      raise ZooError("--%s=%s: %s is a %s checkpoint (depth multiplier %g); "
                     "drop the flag" % (flag, values[flag], value,
                                        opts.model_variant,
                                        opts.depth_multiplier))
  if e.kind == BACKBONE and "initialize_last_layer" in present and values.get(
      "initialize_last_layer"):
    raise ZooError("--initialize_last_layer: %s is an ImageNet backbone; it "
                   "has no head to restore (drop the flag)" % value)
  if "output_stride" in present and values.get("output_stride"):
    opts = opts.for_output_stride(int(values["output_stride"]))
  for flag, field in _TRAIN_MODEL_FLAGS.items():
    if flag in present:
      continue
    v = getattr(opts, field)
    if flag == "decoder_output_stride":
      v = ["none"] if v is None else [str(v)]
    elif flag in ("atrous_rates", "multi_grid") and v is not None:
      v = list(v)
    out[flag] = v
  # No train.py flag: slim's MobileNetV2 rounds every width to 8.
  out["divisible_by"] = opts.divisible_by
  directory = checkpoint(e.name, cache_dir=cache_dir)
  if e.kind == BACKBONE:
    out["initialize_last_layer"] = False
    out["last_layers_contain_logits_only"] = False
    out["tf_initial_checkpoint"] = os.path.join(directory, TF1_SUBDIR)
  else:
    out["tf_initial_checkpoint"] = directory
  logging.info("%s -> %s", value, out["tf_initial_checkpoint"])
  return out
