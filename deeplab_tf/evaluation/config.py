"""EvalConfig: an evaluation run, built from the configuration saved with
the checkpoint plus the few things that may change at evaluation."""

import dataclasses
from typing import Any, Dict, Optional, Tuple

from deeplab_tf import sliding_window as sliding_lib
from deeplab_tf.config import ModelOptions
from deeplab_tf.errors import ConfigError
from deeplab_tf.run_config import load_run_config

INFERENCE_MODES = ("whole", "sliding")
# Model flags that may differ from the saved configuration at evaluation.
EVAL_OVERRIDABLE = ("output_stride", "atrous_rates")


@dataclasses.dataclass(frozen=True)
class EvalConfig:
  """An evaluation run.

  Attributes:
    model: ModelOptions at the evaluation output stride; crop_size is the
      eval crop (images are padded to at least it, never cropped).
    checkpoint_dir: train_logdir (or one checkpoint prefix).
    eval_logdir: where metrics.json and summaries go.
    dataset, dataset_dir, eval_split, ignore_label, class_names, colormap:
      the data.
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
    tfds_source: a `tfds_source.TfdsSource` read instead of dataset_dir.
    inference_mode: 'whole' (pad each image to the crop, one pass) or
      'sliding' (`deeplab_tf.sliding_window`: overlapping windows, memory
      bounded by the window; combined with eval_scales / flips per window).
    window_size: sliding window [height, width]; None = the eval crop.
    window_stride: sliding stride; None = 2/3 of the window.
    window_batch_size: windows run together.
    window_weighting: 'uniform' or 'gaussian'.
  """
  model: ModelOptions
  checkpoint_dir: str
  eval_logdir: str
  dataset: str
  dataset_dir: str
  eval_split: str = "val"
  ignore_label: int = 255
  class_names: Tuple[str, ...] = ()
  colormap: Tuple[Tuple[int, int, int], ...] = ()
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
  tfds_source: Optional[Any] = None
  inference_mode: str = "whole"
  window_size: Optional[Tuple[int, int]] = None
  window_stride: Optional[Tuple[int, int]] = None
  window_batch_size: int = 1
  window_weighting: str = "uniform"

  @property
  def sliding_window(self) -> Optional[sliding_lib.SlidingWindow]:
    """The window of 'sliding' mode (None in 'whole' mode)."""
    if self.inference_mode != "sliding":
      return None
    return sliding_lib.SlidingWindow(
        self.window_size or self.model.crop_size, self.window_stride,
        self.window_batch_size, self.window_weighting)

  def __post_init__(self):
    object.__setattr__(self, "eval_scales",
                       tuple(float(s) for s in self.eval_scales))
    object.__setattr__(self, "trimap_widths",
                       tuple(int(w) for w in self.trimap_widths))
    object.__setattr__(self, "class_names", tuple(self.class_names))
    object.__setattr__(self, "colormap",
                       tuple(tuple(int(v) for v in c) for c in self.colormap))
    if not self.eval_scales or min(self.eval_scales) <= 0:
      raise ConfigError("--eval_scales=%r must be positive"
                        % (self.eval_scales,))
    if self.eval_batch_size < 1:
      raise ConfigError("--eval_batch_size must be >= 1")
    if self.trimap_widths and min(self.trimap_widths) < 1:
      raise ConfigError("--trimap_widths must be >= 1")
    if self.max_number_of_evaluations < 0:
      raise ConfigError("--max_number_of_evaluations must be >= 0")
    self._check_window()

  def _check_window(self):
    if self.inference_mode not in INFERENCE_MODES:
      raise ConfigError("--inference_mode=%s: choose one of %s"
                        % (self.inference_mode, ", ".join(INFERENCE_MODES)))
    if self.inference_mode == "whole":
      if self.window_size is not None or self.window_stride is not None:
        raise ConfigError("--window_size / --window_stride only apply with "
                          "--inference_mode=sliding")
      return
    try:
      window = self.sliding_window
      window.check_output_stride(self.model.output_stride)
    except ValueError as e:
      raise ConfigError("--inference_mode=sliding: %s" % e) from None
    object.__setattr__(self, "window_size", window.window_size)
    object.__setattr__(self, "window_stride", window.window_stride)

  @property
  def num_classes(self) -> int:
    return self.model.num_classes

  @property
  def data_source(self):
    """The TFRecord directory, or the TfdsSource to read."""
    return self.tfds_source or self.dataset_dir


def eval_config_from_checkpoint(checkpoint_dir: str, eval_logdir: str, *,
                                overrides: Optional[Dict[str, Any]] = None,
                                model_flags: Optional[Dict[str, Any]] = None,
                                **kwargs) -> EvalConfig:
  """EvalConfig from `<checkpoint_dir>/deeplab_config.json`.

  Args:
    checkpoint_dir: train_logdir (or a checkpoint prefix in it).
    eval_logdir: output directory.
    overrides: eval-time changes: eval_crop_size, output_stride,
      atrous_rates, dataset_dir, tfds_data_dir (a saved TFDS dataset
      moved), tfds (a TfdsSource to evaluate on, whose classes must be
      the checkpoint's) (None values ignored).
    model_flags: the other model flags the user gave (only those given;
      None means an explicit 'none'); each must equal the saved
      value (a mismatch is an error naming the flag: it would silently give
      wrong predictions).
    **kwargs: the remaining EvalConfig fields.
  """
  opts, dataset, train = load_run_config(checkpoint_dir)
  if kwargs.get("max_number_of_evaluations", 1) != 1:
    # Continuous mode ends once the run's final checkpoint is evaluated.
    kwargs.setdefault("stop_at_step", train.get("training_number_of_steps"))
  overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
  saved = opts.to_dict()
  for name, value in (model_flags or {}).items():
    if name not in saved:
      raise ConfigError("--%s is not a model option" % name)
    try:
      same = ModelOptions.from_dict(dict(saved, **{name: value})) == opts
    except ValueError:
      same = False
    if not same:
      raise ConfigError(
          "--%s=%r conflicts with the checkpoint's configuration (%s=%r in "
          "%s/deeplab_config.json); the model flags come from the checkpoint "
          "and only %s, eval_crop_size, eval_scales and add_flipped_images "
          "may change at evaluation"
          % (name, value, name, saved[name], checkpoint_dir,
             ", ".join(EVAL_OVERRIDABLE)))
  if "output_stride" in overrides:
    opts = opts.for_output_stride(int(overrides["output_stride"]))
  if "atrous_rates" in overrides:
    opts = opts.replace(atrous_rates=tuple(overrides["atrous_rates"]) or None)
  if "eval_crop_size" in overrides:
    opts = opts.replace(crop_size=tuple(overrides["eval_crop_size"]))
  dataset_dir = overrides.get("dataset_dir") or dataset.get("dataset_dir", "")
  source = _tfds_source(dataset, overrides)
  if source is None:
    check_dataset_dir_matches(dataset_dir, dataset, opts.num_classes,
                              checkpoint_dir)
  return EvalConfig(
      model=opts, checkpoint_dir=checkpoint_dir, eval_logdir=eval_logdir,
      dataset=dataset.get("name", ""), dataset_dir=dataset_dir,
      ignore_label=int(dataset.get("ignore_label", 255)),
      class_names=tuple(dataset.get("class_names", ())),
      colormap=tuple(tuple(c) for c in dataset.get("colormap", ())),
      tfds_source=source, **kwargs)


def _tfds_source(dataset: Dict[str, Any], overrides: Dict[str, Any]):
  """The TFDS source to evaluate on: given, or saved by train.py."""
  from deeplab_tf.data import tfds_source  # pylint: disable=g-import-not-at-top
  source = overrides.get("tfds")
  if source is not None:
    d = tfds_source.descriptor_for(source)
    saved = (int(dataset.get("num_classes", -1)),
             int(dataset.get("ignore_label", 255)))
    if (d.num_classes, d.ignore_label) != saved:
      raise ConfigError(
          "--dataset=%s has %d classes and ignore label %d but the checkpoint "
          "was trained for %d classes, ignore label %d"
          % ((source.dataset, d.num_classes, d.ignore_label) + saved))
    return source
  if not dataset.get("tfds"):
    if overrides.get("tfds_data_dir"):
      raise ConfigError("--tfds_data_dir: the checkpoint was not trained on a "
                        "TFDS dataset (give --dataset=tfds:<name> to evaluate "
                        "on one)")
    return None
  source = tfds_source.TfdsSource.from_dict(dataset["tfds"])
  if overrides.get("tfds_data_dir"):
    source = dataclasses.replace(source, data_dir=overrides["tfds_data_dir"])
  return source
def check_dataset_dir_matches(dataset_dir: str, dataset: Dict[str, Any],
                              num_classes: int, checkpoint_dir: str):
  """ValueError naming both when `dataset_dir`'s label_map.json describes
  other classes than the checkpoint's (another dataset's records)."""
  import os  # pylint: disable=g-import-not-at-top
  from deeplab_tf.data import LABEL_MAP_FILENAME, get_dataset_descriptor
  path = os.path.join(dataset_dir or "", LABEL_MAP_FILENAME)
  if not dataset_dir or not os.path.isfile(path):
    return
  try:
    found = get_dataset_descriptor(path)
  except ValueError as e:  # DataError
    raise ConfigError("--dataset_dir=%s: %s" % (dataset_dir, e)) from None
  ignore = int(dataset.get("ignore_label", found.ignore_label))
  names = tuple(dataset.get("class_names") or found.class_names)
  generic = all(n == "class_%d" % i for i, n in enumerate(names))  # --num_classes
  if (found.ignore_label != ignore or found.num_classes > num_classes
      or (not generic and names[:found.num_classes] != found.class_names)):
    raise ConfigError(
        "--dataset_dir=%s holds dataset %s (%d classes, ignore label %d, %s) "
        "but the checkpoint in %s was trained on dataset %s (%d classes, "
        "ignore label %d); evaluate it on its own dataset's records"
        % (dataset_dir, found.name, found.num_classes, found.ignore_label,
           path, checkpoint_dir, dataset.get("name", "?"), num_classes,
           ignore))
