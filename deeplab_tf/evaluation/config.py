"""EvalConfig: the eval section of a run (how a checkpoint is evaluated).

The model and the data are the run's other sections (deeplab_tf/run_config);
evaluation/resolve.py builds the whole RunConfig from a run directory's
deeplab_config.json, or from an authors' TF1 checkpoint, plus eval.py's few
eval-time changes.
"""

import dataclasses
from typing import Optional, Tuple

from deeplab_tf.data.data_config import as_size
from deeplab_tf.errors import ConfigError
from deeplab_tf.sliding_window import SlidingWindow

INFERENCE_MODES = ("whole", "sliding")


@dataclasses.dataclass(frozen=True)
class EvalConfig:
  """An evaluation.

  Attributes:
    checkpoint: a train_logdir (its newest checkpoint; continuous mode
      waits for new ones), one checkpoint prefix, or an authors' TF1
      checkpoint (evaluated in memory).
    eval_logdir: where metrics.json and summaries go.
    crop_size: images are padded to at least this [height, width], never
      cropped (the paper: 513x513 on VOC, the full 1025x2049 on Cityscapes).
    eval_scales, add_flipped_images: multi-scale + flip inference.
    eval_batch_size: images per batch (1 like the reference: batching pads
      images to the batch's largest, which image pooling sees).
    trimap_widths: band widths for the boundary metric (empty: off).
    vis_logdir: where to draw predictions (None: off).
    vis_max_images: at most this many images drawn (None: all).
    also_save_raw_predictions: raw label-id PNGs too.
    convert_to_cityscapes_label_ids: raw PNGs as Cityscapes labelIds.
    max_number_of_evaluations: 1 = single pass, 0 = forever.
    eval_interval_secs, eval_timeout_secs: continuous mode polling.
    stop_at_step: continuous mode stops after evaluating this step.
    window: None evaluates each whole image padded to the crop; a
      SlidingWindow runs overlapping windows instead (memory bounded by the
      window; combined with eval_scales / flips per window).
  """
  checkpoint: str
  eval_logdir: str
  crop_size: Tuple[int, int]
  eval_scales: Tuple[float, ...] = (1.0,)
  add_flipped_images: bool = False
  eval_batch_size: int = 1
  trimap_widths: Tuple[int, ...] = ()
  vis_logdir: Optional[str] = None
  vis_max_images: Optional[int] = None
  also_save_raw_predictions: bool = False
  convert_to_cityscapes_label_ids: bool = False
  max_number_of_evaluations: int = 1
  eval_interval_secs: float = 60.0
  eval_timeout_secs: Optional[float] = None
  stop_at_step: Optional[int] = None
  window: Optional[SlidingWindow] = None

  def __post_init__(self):
    object.__setattr__(self, "crop_size",
                       as_size(self.crop_size, "eval_crop_size"))
    object.__setattr__(self, "eval_scales",
                       tuple(float(s) for s in self.eval_scales))
    object.__setattr__(self, "trimap_widths",
                       tuple(int(w) for w in self.trimap_widths))
    if not self.eval_scales or min(self.eval_scales) <= 0:
      raise ConfigError("--eval_scales=%r must be positive"
                        % (self.eval_scales,))
    if self.eval_batch_size < 1:
      raise ConfigError("--eval_batch_size must be >= 1")
    if self.trimap_widths and min(self.trimap_widths) < 1:
      raise ConfigError("--trimap_widths must be >= 1")
    if self.max_number_of_evaluations < 0:
      raise ConfigError("--max_number_of_evaluations must be >= 0")

  @property
  def inference_mode(self) -> str:
    return "whole" if self.window is None else "sliding"

  def check_model(self, model):
    """ConfigError when the model cannot run at this crop / window."""
    if self.window is None:
      model.check_crop(self.crop_size, "eval_crop_size")
      return
    try:
      self.window.check_output_stride(model.output_stride)
    except ValueError as e:
      raise ConfigError("--inference_mode=sliding: %s" % e) from None

  def replace(self, **changes) -> "EvalConfig":
    return dataclasses.replace(self, **changes)
