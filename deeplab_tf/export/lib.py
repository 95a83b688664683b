"""export_lib: a run's checkpoint -> SavedModel, TFLite, ONNX, report.

`run_export(ExportConfig(...))` is everything `export.py` does; the CLI only
turns flags into the config. The model and data come from the run: the
`deeplab_config.json` train.py saved beside the checkpoint (no model flag
is repeated), or the RunConfig of an authors' TF1 checkpoint, exported in
memory. Only inference choices are ExportConfig's (export/config.py).
"""

import json
import os
import shutil
from typing import Dict, List, Optional

import numpy as np
import tensorflow as tf

from deeplab_tf import atomic_io
from deeplab_tf import run_config
from deeplab_tf.checkpoint_files import intact_checkpoint_prefix
from deeplab_tf.errors import ConfigError
from deeplab_tf.export import optimize
from deeplab_tf.export import parity
from deeplab_tf.export import saved_model as saved_model_lib
from deeplab_tf.export import serving
from deeplab_tf.export import tflite as tflite_lib
from deeplab_tf.export.config import ExportConfig
from deeplab_tf.model import build_model
from deeplab_tf.run_config import RunConfig

REPORT_FILENAME = "export_report.json"
FAILED_REPORT_FILENAME = "export_report.failed.json"


def read_split(dataset_dir, split: str, count: int) -> List[Dict]:
  """Up to `count` decoded {"image", "label"} numpy pairs of a split of a
  TFRecord directory or a TfdsSource."""
  # pylint: disable=g-import-not-at-top
  from deeplab_tf.data.input_pipeline import decode_example, list_split_files
  if isinstance(dataset_dir, str):
    files = list_split_files(dataset_dir, split)
    examples = tf.data.TFRecordDataset(files).take(count).map(decode_example)
  else:
    from deeplab_tf.data.tfds_source import read_examples
    examples = read_examples(dataset_dir, split, count)
  samples = []
  for example in examples:
    samples.append({"image": example["image"].numpy(),
                    "label": example["label"].numpy().astype(np.int32)})
  return samples


def synthetic_images(count: int, crop_size) -> List[Dict]:
  """Deterministic smooth images of varied sizes (no dataset available)."""
  rng = np.random.default_rng(0)
  samples = []
  for i in range(count):
    h = max(crop_size[0] - 7 * i, 1)
    w = max(crop_size[1] - 11 * i, 1)
    base = rng.uniform(0, 255, (h // 8 + 2, w // 8 + 2, 3))
    image = tf.image.resize(base[np.newaxis], [h, w])[0].numpy()
    samples.append({"image": np.clip(image, 0, 255).astype(np.uint8),
                    "label": None})
  return samples


def _dataset_dir(config: ExportConfig, data):
  """The TFRecord directory or TfdsSource to read images from, or None."""
  if config.tfds_source is not None:
    return config.tfds_source
  if config.dataset_dir:
    if not os.path.isdir(config.dataset_dir):
      raise FileNotFoundError("dataset_dir %s does not exist"
                              % config.dataset_dir)
    return config.dataset_dir
  if data.tfds is not None:
    return data.tfds
  saved = data.dataset_dir
  return saved if saved and os.path.isdir(saved) else None


def export_run(config: ExportConfig, run: Optional[RunConfig] = None
               ) -> RunConfig:
  """The run exported: `run` (default: the checkpoint's saved one) at the
  export's output stride and crop."""
  run = run or run_config.load_run_config(config.checkpoint)
  model, data = run.model, run.data
  if config.output_stride is not None:
    model = model.for_output_stride(config.output_stride)
  if config.crop_size is not None:
    data = data.replace(crop_size=config.crop_size)
  if config.window is not None:
    config.window.check_output_stride(model.output_stride)
  elif config.padding == "crop":
    model.check_crop(data.crop_size, "crop_size")
  return run.replace(model=model, data=data)


def load_export_model(config: ExportConfig, run: RunConfig):
  """(native Keras model of run.model, the checkpoint read)."""
  model = build_model(run.model, upsample_logits=False)
  return model, run_config.restore_model(model, config.checkpoint)


class ExportWriteError(OSError):
  """Writing an export output failed (full disk, read-only directory...)."""


def _written(what: str, function, *args, **kwargs):
  """Runs a write step; an OS / TF file error becomes ExportWriteError."""
  try:
    return function(*args, **kwargs)
  except (OSError, tf.errors.OpError) as e:
    reason = e.message if isinstance(e, tf.errors.OpError) else str(e)
    raise ExportWriteError(
        "writing %s failed: %s; nothing new was published (free space or "
        "choose a writable --export_dir)" % (what, reason)) from e


def run_export(config: ExportConfig, log=print,
               run: Optional[RunConfig] = None) -> Dict:
  """Exports and verifies; returns (and writes) the report dict.

  `run`: the model and data of config.checkpoint (default: its saved
  deeplab_config.json; give it for a TF1 checkpoint).

  Everything is made in a hidden staging directory and in memory first;
  only when the SavedModel, every requested TFLite variant and the parity
  checks succeeded are the TFLite files and `export_report.json` written and
  the version directory renamed into place, last. A failure (or a failed
  parity check) publishes nothing: the previous version and its report stay
  as they were. With a failed check the report goes to
  `export_report.failed.json`.
  """
  run = export_run(config, run)
  data_dir = _dataset_dir(config, run.data)
  _check_inputs(config, data_dir)
  version = config.version or saved_model_lib.default_version(
      intact_checkpoint_prefix(config.checkpoint))
  _check_outputs_free(config, version, run.data.crop_size,
                      run.model.model_variant)
  staged = _written("the staging directory in %s" % config.export_dir,
                    saved_model_lib.staging_dir, config.export_dir, version)
  try:
    report, files = _stage(config, run, version, data_dir, staged, log)
    if not report["passed"]:
      # Not served: the report goes beside, for the user to inspect.
      path = os.path.join(config.export_dir, FAILED_REPORT_FILENAME)
      _written(path, atomic_io.atomic_write_bytes, path, _json(report))
      return report
    _publish(config, version, staged, report, files)
  finally:
    if os.path.exists(staged):
      shutil.rmtree(staged, ignore_errors=True)
  log("SavedModel: %s" % report["saved_model"])
  for line in parity.summarize(report):
    log(line)
  return report


def _check_inputs(config: ExportConfig, data_dir):
  """Before anything is written: calibration images for int8, the ONNX
  converter for --onnx."""
  if config.tflite and "int8" in config.tflite_variants and data_dir is None:
    raise ConfigError(
        "the int8 TFLite variant needs real images for calibration: pass "
        "--dataset_dir with %s-*.tfrecord files (or --dataset=tfds:<name>), "
        "or leave int8 out of "
        "--tflite_variants" % config.representative_split)
  if config.onnx:
    from deeplab_tf.export import onnx as onnx_lib  # pylint: disable=g-import-not-at-top
    onnx_lib.check_available()


def _publish(config: ExportConfig, version: int, staged: str, report: Dict,
             files: Dict[str, bytes]):
  """Every file complete beside its target first (a full disk fails here);
  then only renames, the version directory last. A failed publish restores
  the previous report, which must keep describing the version served."""
  report_path = os.path.join(config.export_dir, REPORT_FILENAME)
  pending = {}  # output path -> its complete temporary file
  try:
    for path, data in dict(files, **{report_path: _json(report)}).items():
      pending[path] = _written(path, atomic_io.write_temp_file, path, data)
    previous = None
    if os.path.exists(report_path):
      with open(report_path, "rb") as f:
        previous = f.read()
    for path in list(pending):
      os.replace(pending[path], path)
      del pending[path]
    try:
      _written(report["saved_model"], saved_model_lib.publish, staged,
               config.export_dir, version, overwrite=config.overwrite)
    except BaseException:
      if previous is None:
        os.remove(report_path)
      else:
        atomic_io.atomic_write_bytes(report_path, previous)
      raise
  finally:
    for tmp in pending.values():
      os.remove(tmp)


def _check_outputs_free(config: ExportConfig, version: int, crop_size,
                        model_variant: str):
  """FileExistsError before any work if an output exists (no --overwrite)."""
  saved_model_lib.check_free(config.export_dir, version, config.overwrite)
  if config.onnx and not config.overwrite:
    from deeplab_tf.export import onnx as onnx_lib  # pylint: disable=g-import-not-at-top
    path = os.path.join(config.export_dir, onnx_lib.filename(model_variant))
    if os.path.exists(path):
      raise FileExistsError("%s already exists (pass --overwrite)" % path)
  if config.tflite and not config.overwrite:
    for variant in config.tflite_variants:
      path = os.path.join(config.export_dir,
                          _tflite_spec(config, variant, crop_size).filename)
      if os.path.exists(path):
        raise FileExistsError("%s already exists (pass --overwrite)" % path)


def _stage(config: ExportConfig, run: RunConfig, version: int, data_dir,
           staged: str, log):
  """SavedModel into `staged`, TFLite bytes, parity checks: (report, files).

  The report describes the published layout; nothing outside `staged` is
  written.
  """
  opts, crop = run.model, run.data.crop_size
  model, prefix = load_export_model(config, run)
  pad_size = crop if config.padding == "crop" else (1, 1)
  exported_model = optimize.serving_model(
      opts, model, fold=config.fold_batch_norm, precision=config.precision)
  module = serving.DeepLabServingModule(
      exported_model, crop_size=pad_size, mean_pixel=opts.mean_pixel,
      num_classes=opts.num_classes, scales=config.inference_scales,
      add_flipped_images=config.add_flipped_images,
      max_image_pixels=config.max_image_pixels, sliding_window=config.window)
  # The run exported travels with it (assets.extra/deeplab_config.json).
  extra = {run_config.CONFIG_FILENAME: json.dumps(
      run.to_dict(), indent=2, sort_keys=True) + "\n"}
  _written("the SavedModel to %s" % staged, saved_model_lib.save_into,
           module, staged, extra)
  path = saved_model_lib.version_dir(config.export_dir, version)
  report = {"checkpoint": prefix, "saved_model": path, "version": version,
            "model": opts.to_dict(), "export": config.to_dict(),
            "tflite": {}, "parity": {}}

  samples = []
  if config.verify:
    samples = (read_split(data_dir, config.parity_split, config.num_parity)
               if data_dir else synthetic_images(config.num_parity, crop))
    report["parity_images"] = ("%s:%s" % (getattr(data_dir, "dataset",
                                                  data_dir),
                                          config.parity_split)
                               if data_dir else "synthetic")
    report["parity"].update(_saved_model_parity(
        config, opts, staged, model, exported_model, pad_size,
        [s["image"] for s in samples]))

  files = {}
  if config.onnx:
    report["onnx"], onnx_files = _export_onnx(config, opts, model, pad_size,
                                              samples, report, log)
    files.update(onnx_files)
  if config.tflite:
    report["tflite"], tflite_files = _export_tflite(
        config, run, model, data_dir, samples, report, log)
    files.update(tflite_files)
  report["passed"] = all(c["passed"] for c in report["parity"].values())
  return report, files


def _saved_model_parity(config: ExportConfig, opts, staged: str, model,
                        exported_model, pad_size, images) -> Dict:
  """The staged SavedModel (and its sliding signature) against Keras, and
  the folded graph against the unfolded one."""
  checks = {"saved_model": parity.check_saved_model(
      staged, model, images, crop_size=pad_size, mean_pixel=opts.mean_pixel,
      scales=config.inference_scales,
      add_flipped_images=config.add_flipped_images,
      bounds=(parity.BF16_BOUNDS if config.precision == "mixed_bfloat16"
              else None))}
  if config.fold_batch_norm:
    float_folded = (exported_model if config.precision == "float32" else
                    optimize.serving_model(opts, model, fold=True))
    checks["fold_batch_norm"] = parity.check_folded(
        float_folded, model, images, crop_size=pad_size,
        mean_pixel=opts.mean_pixel)
  if config.window is not None:
    checks["saved_model_sliding"] = parity.check_sliding(
        staged, model, images, window=config.window,
        mean_pixel=opts.mean_pixel, num_classes=opts.num_classes,
        scales=config.inference_scales,
        add_flipped_images=config.add_flipped_images)
  return checks


def _json(report: Dict) -> bytes:
  return (json.dumps(report, indent=2, sort_keys=True) + "\n").encode()


def _tflite_spec(config: ExportConfig, variant: str, size):
  return tflite_lib.TFLiteSpec(variant, size, config.tflite_input_dtype,
                               config.tflite_outputs)


def _export_tflite(config, run, model, data_dir, samples, report, log):
  """({variant: info}, {path: model bytes}): converted, checked, unwritten."""
  opts, ignore_label = run.model, run.data.ignore_label
  size, why = tflite_lib.choose_input_size(config.tflite_input_size,
                                           run.data.crop_size)
  report["tflite_input_size"] = {"size": list(size), "reason": why}
  log("TFLite input %dx%d: %s" % (size + (why,)))
  mean = opts.mean_pixel
  representative = None
  if "int8" in config.tflite_variants:
    calibration = read_split(data_dir, config.representative_split,
                             config.num_representative)

    def representative():
      for sample in calibration:
        yield parity.to_input_size(sample["image"], size, mean)[np.newaxis]

  tflite_samples = [{
      "image": parity.to_input_size(s["image"], size, mean),
      "label": (None if s["label"] is None else
                parity.to_input_size(s["label"], size, ignore_label))}
                    for s in samples]
  info, files = {}, {}
  for variant in config.tflite_variants:
    spec = _tflite_spec(config, variant, size)
    model_bytes = tflite_lib.convert(model, spec, representative)
    path = os.path.join(config.export_dir, spec.filename)
    files[path] = model_bytes
    info[variant] = {"path": path, "bytes": len(model_bytes),
                     "ops": tflite_lib.op_names(model_bytes)}
    log("TFLite %-12s %s (%.2f MB)" % (variant, path, len(model_bytes) / 1e6))
    if config.verify:
      report["parity"]["tflite_" + variant] = parity.check_tflite(
          model_bytes, spec, model, tflite_samples,
          num_classes=opts.num_classes, ignore_label=ignore_label)
  return info, files


def _export_onnx(config, opts, model, pad_size, samples, report, log):
  """({info}, {path: model bytes}): deeplab_<variant>.onnx (float32 graph),
  converted and checked, not yet written."""
  from deeplab_tf.export import onnx as onnx_lib  # pylint: disable=g-import-not-at-top
  path = os.path.join(config.export_dir, onnx_lib.filename(opts.model_variant))
  module = serving.DeepLabServingModule(
      optimize.serving_model(opts, model, fold=config.fold_batch_norm),
      crop_size=pad_size, mean_pixel=opts.mean_pixel,
      num_classes=opts.num_classes, scales=config.inference_scales,
      add_flipped_images=config.add_flipped_images)
  model_bytes = onnx_lib.convert(module, config.onnx_opset)
  log("ONNX %s (%.2f MB)" % (path, len(model_bytes) / 1e6))
  info = dict(onnx_lib.describe(model_bytes), path=path,
              bytes=len(model_bytes))
  if config.verify:
    report["parity"]["onnx"] = parity.check_onnx(
        onnx_lib.OnnxRunner(model_bytes), model,
        [s["image"] for s in samples], crop_size=pad_size,
        mean_pixel=opts.mean_pixel, scales=config.inference_scales,
        add_flipped_images=config.add_flipped_images)
  return info, {path: model_bytes}

