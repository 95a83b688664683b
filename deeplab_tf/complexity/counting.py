"""Parameters and Multiply-Adds of a DeepLab model, counted from its layers.

Two counts, both read off the built Keras model (static input shape), so they
hold for every configuration the builder can make:

* **conv MACs**: sum over every convolution of
  H_out * W_out * C_out * k_h * k_w * C_in (depthwise: H_out * W_out * C *
  k_h * k_w) at the true output sizes. This is the architecture's cost.
* **paper method**: how the paper's Multiply-Adds were obtained, the TF1
  profiler's `float_ops` of the whole inference graph divided by 2, with the
  profiler's per-op conventions (`tensorflow/python/profiler/internal/
  flops_registry.py`):
    - an atrous conv (rate r > 1) runs as SpaceToBatchND -> conv ->
      BatchToSpaceND, and SpaceToBatchND pads the grid up to a multiple of r,
      so it is counted at ceil(H / r) * r per side instead of H;
    - elementwise ops count 1 flop per output element (the residual sums,
      the input normalisation's multiply and subtract, the logits' BiasAdd),
      pooling counts kernel area x outputs, Mean / ArgMax count their inputs,
      Softmax 5 flops per element;
    - BatchNorm (fused), ReLU, padding, concat and every bilinear resize are
      not registered and count 0;
    - each conv kernel's random initializer (x * stddev + mean: 2 flops per
      element) and each L2 regulariser (L2Loss 3n - 1 flops, times the weight
      decay: 1) are ops of the graph too. The reference regularises every
      non-depthwise conv kernel, never a depthwise one. These run once per
      graph, however many times the network is applied (multi-scale, flip).
  The prediction head: single scale, the reference's argmax over the logits
  bilinearly upsampled to the input; multi-scale / flip, no merge head by
  default (see `inference_macs` for the evidence).

Run `python -m deeplab_tf.complexity --model_variant=... --input_size=513`
for one configuration (`cli.py`), `--paper_tables` for the paper's Tables 3
and 5 (`paper.py`).
"""

import dataclasses
import math
from typing import Dict, List, Optional, Sequence, Tuple

import keras

from deeplab_tf import layers as L
from deeplab_tf.config import ModelOptions
from deeplab_tf.model import build_model

# The paper's multi-scale evaluation (Sec. 4; research/deeplab eval_scales).
PAPER_EVAL_SCALES = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75)

# Profiler flops per element, divided by 2 below.
_SOFTMAX_FLOPS = 5
_INIT_FLOPS = 2          # random * stddev + mean
_L2_FLOPS = 3            # L2Loss (3n - 1) and the multiply by the decay (+1)

# Layers the profiler gives no flops (or that are not ops at inference).
_FREE_LAYERS = (keras.layers.InputLayer, keras.layers.BatchNormalization,
                keras.layers.ReLU, keras.layers.ZeroPadding2D,
                keras.layers.Concatenate, keras.layers.Dropout,
                L.ResizeBilinearAlignCorners)


def scaled_size(size: int, scale: float) -> int:
  """The reference's `scale_dimension`: int((size - 1) * scale + 1)."""
  return int((size - 1) * scale + 1)


def space_to_batch_extent(size: int, kernel: int, rate: int,
                          padding: str) -> int:
  """Output extent of a stride-1 atrous conv as TF computes it.

  `tf.nn.convolution` pads the (SAME- or VALID-padded) input up to a multiple
  of the rate, runs a VALID conv on each of the rate x rate sub-grids and
  crops the result; the conv itself sees rate * (sub-grid output) positions.
  """
  base_pad = (kernel - 1) * rate if padding == "same" else 0
  sub = -(-(size + base_pad) // rate)          # ceil
  return rate * max(sub - (kernel - 1), 0)


def _spatial(shape) -> Tuple[int, int]:
  if shape[1] is None or shape[2] is None:
    raise ValueError("the model needs a static input shape: build it with "
                     "input_shape=(H, W, 3)")
  return int(shape[1]), int(shape[2])


def _numel(shape) -> int:
  return math.prod(int(d) for d in shape[1:])


@dataclasses.dataclass
class Complexity:
  """Counts of one model at one input size (batch 1).

  Attributes:
    params: number of weights (including BN moving statistics, as the
      reference's variable lists count them).
    conv_macs: conv Multiply-Adds at true output sizes.
    paper_macs: profiler-method Multiply-Adds of one forward pass of the
      network, without the variable ops and the prediction head.
    variable_macs: profiler-method Multiply-Adds of the initializers and
      regularisers (once per graph).
    head_macs: profiler-method Multiply-Adds of the single-scale prediction
      head (argmax over the upsampled logits).
    by_kind: paper-method Multiply-Adds per layer kind.
    uncounted: layer types that were neither counted nor known to be free.
  """
  params: int = 0
  conv_macs: int = 0
  paper_macs: float = 0.0
  variable_macs: float = 0.0
  head_macs: float = 0.0
  by_kind: Dict[str, float] = dataclasses.field(default_factory=dict)
  uncounted: List[str] = dataclasses.field(default_factory=list)

  @property
  def paper_total(self) -> float:
    """Paper-method Multiply-Adds of a single-scale inference graph."""
    return self.paper_macs + self.variable_macs + self.head_macs


def _conv_costs(layer) -> Tuple[int, float, float]:
  """(true MACs, paper-method MACs, variable MACs) of a conv layer."""
  kh, kw = layer.kernel_size
  rh, rw = layer.dilation_rate
  out_h, out_w = _spatial(layer.output.shape)
  in_h, in_w = _spatial(layer.input.shape)
  depthwise = isinstance(layer, keras.layers.DepthwiseConv2D)
  per_position = kh * kw * (1 if depthwise else int(layer.input.shape[-1]))
  channels = int(layer.output.shape[-1])
  true = out_h * out_w * channels * per_position
  if (rh > 1 or rw > 1) and tuple(layer.strides) != (1, 1):
    raise ValueError("%s: strided atrous conv is not supported" % layer.name)
  s2b_h = space_to_batch_extent(in_h, kh, rh, layer.padding) if rh > 1 else out_h
  s2b_w = space_to_batch_extent(in_w, kw, rw, layer.padding) if rw > 1 else out_w
  paper = s2b_h * s2b_w * channels * per_position
  if layer.use_bias:
    paper += out_h * out_w * channels / 2          # BiasAdd
  kernel = math.prod(layer.kernel.shape)
  variables = kernel * _INIT_FLOPS / 2
  if not depthwise:
    variables += kernel * _L2_FLOPS / 2
  return true, paper, variables


def _elementwise_costs(layer) -> Optional[float]:
  """Paper-method MACs of a non-conv layer, or None if its type is unknown."""
  if isinstance(layer, keras.layers.Add):
    return (len(layer.input) - 1) * _numel(layer.output.shape) / 2
  if isinstance(layer, L.InputNormalization):
    ops = 2 if layer.mode == "zero_mean_unit_range" else 1
    return ops * _numel(layer.output.shape) / 2
  if isinstance(layer, (keras.layers.MaxPooling2D,
                        keras.layers.AveragePooling2D)):
    return math.prod(layer.pool_size) * _numel(layer.output.shape) / 2
  if isinstance(layer, keras.layers.GlobalAveragePooling2D):
    return _numel(layer.input.shape) / 2           # Mean / whole-map AvgPool
  if isinstance(layer, _FREE_LAYERS):
    return 0.0
  return None


def count_model(model: keras.Model) -> Complexity:
  """Counts parameters and Multiply-Adds of a model with static shapes."""
  c = Complexity(params=int(model.count_params()))
  for layer in model.layers:
    kind = type(layer).__name__
    if isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)):
      true, paper, variables = _conv_costs(layer)
      c.conv_macs += true
      c.variable_macs += variables
    else:
      paper = _elementwise_costs(layer)
      if paper is None:
        if kind not in c.uncounted:
          c.uncounted.append(kind)
        continue
    c.paper_macs += paper
    if paper:
      c.by_kind[kind] = c.by_kind.get(kind, 0.0) + paper
  h, w = _spatial(model.input.shape)
  classes = int(model.output.shape[-1])
  c.head_macs = h * w * classes / 2                  # ArgMax
  return c


def count(opts: ModelOptions, input_size: Sequence[int] = (513, 513)
          ) -> Complexity:
  """Builds `opts` at `input_size` (shapes only, no forward pass) and counts.

  Any size may be counted (those of multi-scale evaluation too). Clears the
  Keras session first (many large models are built in a row).
  """
  h, w = input_size
  keras.backend.clear_session()
  model = build_model(opts, upsample_logits=False, input_shape=(h, w, 3))
  c = count_model(model)
  c.head_macs = h * w * opts.num_classes / 2
  return c


def inference_macs(opts: ModelOptions, size: int = 513,
                   scales: Sequence[float] = (1.0,), flip: bool = False,
                   cache: Optional[dict] = None,
                   merge_head: bool = False) -> Dict[str, float]:
  """Paper-method and conv Multiply-Adds of one evaluation strategy.

  The paper's multi-scale / flip figures are the passes plus the variable
  ops once, without the merge of the passes: adding the reference's merge
  (softmax of every pass at 513x513, their mean, argmax; 0.10 B per six
  passes) leaves every one of the 14 multi-pass rows of Tables 3 and 5 too
  high by exactly that amount, while without it Table 5 matches to 0.01 B.
  A single pass keeps its argmax (the reference graphs' 54.164 / 67.999 /
  2.752 B include it).

  Args:
    opts: the model (at its evaluation output stride and rates).
    size: the evaluation crop (square), 513 in the paper.
    scales: input scales; each pass sees int((size - 1) * s + 1) pixels.
    flip: also run every scale on the left-right flipped input.
    cache: optional dict reused across calls, keyed by (opts, input size).
    merge_head: count the multi-pass merge (softmax, mean, argmax).

  Returns:
    {'paper': profiler-method total, 'conv': conv MACs of all passes,
     'params': parameters}.
  """
  cache = {} if cache is None else cache
  passes = 2 if flip else 1
  paper = conv = 0.0
  c = None
  for s in scales:
    n = scaled_size(size, s)
    key = (opts, n)
    if key not in cache:
      cache[key] = count(opts, (n, n))
    c = cache[key]
    paper += passes * c.paper_macs
    conv += passes * c.conv_macs
  paper += c.variable_macs                             # once per graph
  logits_at_input = size * size * opts.num_classes
  num_passes = passes * len(scales)
  if num_passes == 1:
    paper += logits_at_input / 2                       # ArgMax
  elif merge_head:  # softmax per pass, mean over passes, argmax
    paper += (num_passes * logits_at_input * (_SOFTMAX_FLOPS + 1)
              + logits_at_input) / 2
  return {"paper": paper, "conv": conv, "params": c.params}
