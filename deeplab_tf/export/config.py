"""ExportConfig: the export section of a run (what to export and how).

The model and its data come from the run (deeplab_tf/run_config.py: the
checkpoint's deeplab_config.json, or a TF1 checkpoint's RunConfig); only
inference choices are set here: output stride, scales, flips, crop /
padding, TFLite variants, ONNX, the sliding window.
"""

import dataclasses
from typing import Any, Dict, Optional, Tuple

from deeplab_tf.errors import ConfigError
from deeplab_tf.export import optimize
from deeplab_tf.export import serving_inputs
from deeplab_tf.export import tflite as tflite_lib
from deeplab_tf.sliding_window import SlidingWindow

PADDINGS = ("crop", "none")


@dataclasses.dataclass(frozen=True)
class ExportConfig:
  """What to export and how (the model itself comes from the run config).

  Attributes:
    checkpoint: train_logdir (newest checkpoint), a checkpoint prefix, or
      an authors' TF1 checkpoint (exported in memory with the RunConfig
      tf1_convert.tf1_run_config gives).
    export_dir: TF Serving base path; the SavedModel goes to
      `<export_dir>/<version>/`, TFLite files and the report beside it.
    version: SavedModel version; None = the checkpoint step (at least 1).
    output_stride: inference output stride; None = the trained one.
    inference_scales: multi-scale inference scales baked into the SavedModel.
    add_flipped_images: also average left-right flipped predictions.
    crop_size: [height, width] images are padded to (and the TFLite input
      size); None = the run configuration's crop size.
    padding: 'crop' pads to the crop with the mean pixel exactly as
      evaluation does; 'none' runs the SavedModel at the image's own size.
    tflite: also write the TFLite variants.
    tflite_variants: which of tflite.VARIANTS.
    tflite_input_dtype: 'uint8' or 'float32' TFLite input (RGB 0..255).
    tflite_outputs: 'labels', 'logits' or 'both'.
    tflite_input_size: static [height, width] of the TFLite input (the
      deployment's frame size); None = the crop size.
    dataset_dir: TFRecords for the int8 calibration and the parity images;
      None = the run configuration's `dataset.dataset_dir` if it exists.
    tfds_source: a `tfds_source.TfdsSource` read instead of dataset_dir
      (default: the run configuration's TFDS dataset, if it was one).
    representative_split: split read for int8 calibration.
    parity_split: split whose images (and labels) the parity checks use.
    num_representative: calibration images.
    num_parity: parity images.
    overwrite: replace an existing version / TFLite files.
    verify: run the parity checks.
    max_image_pixels: largest height x width per image the SavedModel
      accepts (checked from the header of an encoded image, before
      decoding); larger ones get InvalidArgument.
    fold_batch_norm: fold BatchNorm into the preceding convolutions of the
      exported graphs (SavedModel, ONNX); checked against the unfolded
      model.
    precision: 'float32' or 'mixed_bfloat16' SavedModel graph.
    onnx: also write `<export_dir>/deeplab_<variant>.onnx` (needs .[onnx]).
    onnx_opset: ONNX opset of the conversion.
    window: a SlidingWindow: adds the `serving_sliding` signature
      (sliding-window inference with this window); None = none.
  """
  checkpoint: str
  export_dir: str
  version: Optional[int] = None
  output_stride: Optional[int] = None
  inference_scales: Tuple[float, ...] = (1.0,)
  add_flipped_images: bool = False
  crop_size: Optional[Tuple[int, int]] = None
  padding: str = "crop"
  tflite: bool = False
  tflite_variants: Tuple[str, ...] = tflite_lib.VARIANTS
  tflite_input_dtype: str = "uint8"
  tflite_outputs: str = "both"
  tflite_input_size: Optional[Tuple[int, int]] = None
  dataset_dir: Optional[str] = None
  representative_split: str = "train"
  parity_split: str = "val"
  num_representative: int = 32
  num_parity: int = 4
  overwrite: bool = False
  verify: bool = True
  max_image_pixels: int = serving_inputs.DEFAULT_MAX_IMAGE_PIXELS
  tfds_source: Optional[object] = None
  fold_batch_norm: bool = True
  precision: str = "float32"
  onnx: bool = False
  onnx_opset: int = 17
  window: Optional[SlidingWindow] = None

  def __post_init__(self):
    serving_inputs.check_max_image_pixels(self.max_image_pixels)
    if self.padding not in PADDINGS:
      raise ConfigError("padding %r: choose one of %s"
                        % (self.padding, ", ".join(PADDINGS)))
    scales = tuple(float(s) for s in self.inference_scales)
    if not scales or min(scales) <= 0:
      raise ConfigError("inference_scales %r must be positive" % (scales,))
    object.__setattr__(self, "inference_scales", scales)
    for variant in self.tflite_variants:
      if variant not in tflite_lib.VARIANTS:
        raise ConfigError("tflite variant %r: choose from %s"
                          % (variant, ", ".join(tflite_lib.VARIANTS)))
    if self.crop_size is not None:
      object.__setattr__(self, "crop_size",
                         tuple(int(v) for v in self.crop_size))
    if self.tflite_input_size is not None:  # checked before anything runs
      size, _ = tflite_lib.choose_input_size(self.tflite_input_size, (1, 1))
      object.__setattr__(self, "tflite_input_size", size)
    if self.precision not in optimize.PRECISIONS:
      raise ConfigError("precision %r: choose one of %s"
                        % (self.precision, ", ".join(optimize.PRECISIONS)))

  def to_dict(self) -> Dict[str, Any]:
    """JSON-ready (the export report's "export" section)."""
    out = dataclasses.asdict(self)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}
