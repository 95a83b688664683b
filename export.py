r"""Exports a trained checkpoint: TF Serving SavedModel, TFLite, parity report.

The model configuration is read from the `deeplab_config.json` saved beside
the checkpoint, so no model flag is repeated:

  python export.py --checkpoint_dir=train_logdir --export_dir=serving/deeplab
  python export.py --checkpoint_dir=train_logdir --export_dir=serving/deeplab \
    --tflite --dataset_dir=tfrecord   # + *.tflite (int8 calibrated on train)

Writes `<export_dir>/<version>/` (SavedModel, signatures `serving_default`
on uint8 images and `serving_bytes` on encoded JPEG/PNG strings), the
`deeplab_<variant>_<H>x<W>.tflite` files and `export_report.json` with the
parity checks against the Keras model; exits 1 if a check fails.

An authors' TF1 model-zoo checkpoint is exported directly, in memory; what
it records (classes, backbone, ASPP branches, decoder) is read from it and
the model flags describe the rest (unset: the paper's OS16, decoder 4):

  python export.py --tf_initial_checkpoint=xception65_voc/model.ckpt \
    --dataset=pascal_voc_seg --decoder_output_stride=4 \
    --export_dir=serving/deeplab
"""

import os
import tempfile

from absl import app, flags

from deeplab_tf import cli
from deeplab_tf import cli_flags

FLAGS = flags.FLAGS
cli_flags.define("checkpoint_dir", "tf_initial_checkpoint")
flags.DEFINE_string("export_dir", None, "TF Serving base path.")
flags.DEFINE_integer("version", None, "SavedModel version (default: the "
                     "checkpoint step, at least 1).")
cli_flags.define("output_stride")
flags.DEFINE_list("inference_scales", ["1.0"], "Multi-scale inference "
                  "scales baked into the SavedModel, e.g. 0.5,0.75,1,1.25.")
cli_flags.define("add_flipped_images", "crop_size")
cli_flags.define_choice("padding", "crop", "deeplab_tf.export.config:PADDINGS",
                        "'crop': pad to the crop with the mean pixel like "
                        "evaluation; 'none': run the SavedModel at each "
                        "image's own size.")
flags.DEFINE_boolean("tflite", False, "Also write the TFLite variants.")
cli_flags.define_choice("tflite_variants", None,
                        "deeplab_tf.export.tflite:VARIANTS",
                        "TFLite variants (default: all).", multi=True)
flags.DEFINE_enum("tflite_input_dtype", "uint8", ["uint8", "float32"],
                  "TFLite input type (RGB 0..255 either way).")
cli_flags.define_choice("tflite_outputs", "both",
                        "deeplab_tf.export.tflite:OUTPUTS",
                        "TFLite outputs: int32 labels, native-stride logits.")
flags.DEFINE_list("tflite_input_size", None, "Static TFLite input "
                  "'height,width': the frames you will run (e.g. 361,481 "
                  "for 480x360 video); default: the crop size. "
                  "deeplab_tf.export.tflite_runner pads, resizes or tiles "
                  "other sizes.")
# --dataset_dir: TFRecords for int8 calibration and parity images (default:
# the run configuration's). TensorFlow Datasets:
# --dataset=tfds:<name>[/<config>][:<version>] reads them from a TFDS dataset
# (TFDS split syntax).
cli_flags.define(*cli_flags.DATASET_FLAGS)
cli_flags.define(*cli_flags.TFDS_FLAGS)
flags.DEFINE_string("representative_split", "train", "Calibration split.")
flags.DEFINE_string("parity_split", "val", "Parity-check split.")
flags.DEFINE_integer("num_representative", 32, "Calibration images.")
flags.DEFINE_integer("num_parity", 4, "Parity images.")
flags.DEFINE_boolean("overwrite", False, "Replace existing outputs.")
# Deployment beyond SavedModel / TFLite: ONNX, faster graphs, large images.
flags.DEFINE_boolean("onnx", False, "Also write <export_dir>/deeplab_"
                     "<variant>.onnx (needs pip install -e '.[onnx]').")
flags.DEFINE_integer("onnx_opset", 17, "ONNX opset.")
flags.DEFINE_boolean("fold_batch_norm", True, "Fold BatchNorm into the "
                     "preceding convolutions of the exported graphs.")
cli_flags.define_choice("serving_precision", "float32",
                        "deeplab_tf.export.optimize:PRECISIONS",
                        "SavedModel compute precision (mixed_bfloat16: CPUs "
                        "with AVX512-BF16/AMX).")
# The sliding window: adds the serving_sliding signature (large images,
# memory bounded by the window).
cli_flags.define(*cli_flags.WINDOW_FLAGS)
# The model of a --tf_initial_checkpoint (authors' flag names; unset ones are
# the paper's xception_65, rates scaled to the stride, decoder 4, crop 513).
# A train.py checkpoint brings its own configuration instead.
cli_flags.define(*cli_flags.MODEL_FLAGS)

# output_stride is also the inference stride of a train.py run.
TF1_MODEL_FLAGS = tuple(n for n in cli_flags.MODEL_FLAGS
                        if n != "output_stride") + ("dataset",)


def tf1_run():
  """The checkpoint and RunConfig of --tf_initial_checkpoint: a zoo name's
  cached run directory (its saved configuration), or an authors' TF1
  checkpoint exported in memory (what it records, the flags for the rest)."""
  from deeplab_tf.zoo.flags import run_dir_for_flag, zoo_name  # pylint: disable=g-import-not-at-top
  if zoo_name(FLAGS.tf_initial_checkpoint):  # the cached converted run
    return run_dir_for_flag(FLAGS.tf_initial_checkpoint, [
        n for n in TF1_MODEL_FLAGS if FLAGS[n].present]), None
  from deeplab_tf.checkpoint_files import resolve_checkpoint_prefix  # pylint: disable=g-import-not-at-top
  from deeplab_tf.tf1_convert import tf1_run_config  # pylint: disable=g-import-not-at-top
  values = {name: FLAGS[name].value for name in TF1_MODEL_FLAGS
            if FLAGS[name].present and name != "dataset"}
  values.update(output_stride=FLAGS.output_stride)
  source = tfds_source_from_flags()
  prefix = resolve_checkpoint_prefix(FLAGS.tf_initial_checkpoint)
  return prefix, tf1_run_config(
      prefix, values, None if source else FLAGS.dataset,
      dataset_dir=FLAGS.dataset_dir, tfds=source,
      crop_size=cli_flags.size("crop_size"))

flags.DEFINE_boolean("verify", True, "Run the parity checks.")
flags.DEFINE_integer("max_image_pixels", 4096 * 4096, "Largest height x "
                     "width per image the SavedModel accepts (read from the "
                     "header of an encoded image, before decoding); larger "
                     "ones get InvalidArgument.")


def tfds_source_from_flags():
  """The TfdsSource of --dataset=tfds:..., or None."""
  from deeplab_tf.data import tfds_source  # pylint: disable=g-import-not-at-top
  if not tfds_source.is_tfds(FLAGS.dataset):
    return None
  return tfds_source.TfdsSource.from_values(FLAGS.dataset, {
      name: FLAGS[name].value for name in tfds_source.FLAG_NAMES})


def main(argv):
  del argv
  if not FLAGS.export_dir:
    raise app.UsageError("--export_dir is required")
  if bool(FLAGS.checkpoint_dir) == bool(FLAGS.tf_initial_checkpoint):
    raise app.UsageError("give one of --checkpoint_dir (a train.py run) and "
                         "--tf_initial_checkpoint (a TF1 checkpoint)")
  given = [n for n in TF1_MODEL_FLAGS if FLAGS[n].present
           and not (n == "dataset" and FLAGS.dataset.startswith("tfds:"))]
  if FLAGS.checkpoint_dir and given:
    raise app.UsageError(
        "--%s: the model comes from %s's saved configuration; model flags "
        "only describe a --tf_initial_checkpoint"
        % (", --".join(given), FLAGS.checkpoint_dir))
  check_paths()
  return export()


def check_paths():
  """A missing checkpoint or unwritable --export_dir, before TF loads:
  a UserError naming the flag."""
  from deeplab_tf.errors import UserError  # pylint: disable=g-import-not-at-top
  checkpoint = FLAGS.checkpoint_dir or FLAGS.tf_initial_checkpoint
  # gs:// and the like, and zoo:<name> (downloaded later): checked later.
  local = "://" not in checkpoint and not checkpoint.startswith("zoo:")
  if local and not (os.path.isdir(checkpoint) or
                    os.path.exists(checkpoint + ".index")):
    raise UserError("--%s %s does not exist (neither a directory nor a "
                    "checkpoint prefix with %s.index)" % (
                        "checkpoint_dir" if FLAGS.checkpoint_dir
                        else "tf_initial_checkpoint", checkpoint, checkpoint))
  try:
    os.makedirs(FLAGS.export_dir, exist_ok=True)
    with tempfile.TemporaryFile(dir=FLAGS.export_dir) as probe:
      probe.write(b"\0")
      probe.flush()  # a full disk fails here
  except OSError as e:
    raise UserError("--export_dir %s cannot be written: %s" % (
        FLAGS.export_dir, e.strerror or e)) from None


def _window():
  """The SlidingWindow of the window flags (None: no serving_sliding)."""
  from deeplab_tf.sliding_window import SlidingWindow  # pylint: disable=g-import-not-at-top
  if not FLAGS.window_size:
    if FLAGS.window_stride:
      raise app.UsageError("--window_stride needs --window_size (the sliding "
                           "window of the serving_sliding signature)")
    return None
  return SlidingWindow(cli_flags.size("window_size"),
                       cli_flags.size("window_stride"),
                       FLAGS.window_batch_size, FLAGS.window_weighting)


def export():
  """Builds the ExportConfig from the flags and runs the export; a bad flag,
  path or input raises (one line from cli.run), failed parity checks too."""
  from deeplab_tf.export.config import ExportConfig  # pylint: disable=g-import-not-at-top
  from deeplab_tf.export.lib import FAILED_REPORT_FILENAME, run_export  # pylint: disable=g-import-not-at-top
  from deeplab_tf.errors import UserError  # pylint: disable=g-import-not-at-top
  try:
    scales = [float(s) for s in FLAGS.inference_scales]
  except ValueError as e:
    raise app.UsageError("--inference_scales: %s" % e) from None
  variants = ({"tflite_variants": tuple(FLAGS.tflite_variants)}
              if FLAGS.tflite_variants else {})
  checkpoint, run = ((FLAGS.checkpoint_dir, None) if FLAGS.checkpoint_dir
                     else tf1_run())
  config = ExportConfig(
      checkpoint=checkpoint, export_dir=FLAGS.export_dir,
      version=FLAGS.version, output_stride=FLAGS.output_stride,
      inference_scales=scales, add_flipped_images=FLAGS.add_flipped_images,
      crop_size=cli_flags.size("crop_size"),
      padding=FLAGS.padding, tflite=FLAGS.tflite,
      tflite_input_dtype=FLAGS.tflite_input_dtype,
      tflite_outputs=FLAGS.tflite_outputs, dataset_dir=FLAGS.dataset_dir,
      tflite_input_size=FLAGS.tflite_input_size,
      representative_split=FLAGS.representative_split,
      parity_split=FLAGS.parity_split,
      num_representative=FLAGS.num_representative,
      num_parity=FLAGS.num_parity, overwrite=FLAGS.overwrite,
      verify=FLAGS.verify, max_image_pixels=FLAGS.max_image_pixels,
      tfds_source=tfds_source_from_flags(),
      onnx=FLAGS.onnx, onnx_opset=FLAGS.onnx_opset,
      fold_batch_norm=FLAGS.fold_batch_norm,
      precision=FLAGS.serving_precision, window=_window(), **variants)
  report = run_export(config, run=run)
  if not report["passed"]:
    raise UserError("parity checks failed, nothing was published; see %s "
                    "(--noverify exports without the checks)" % os.path.join(
                        FLAGS.export_dir, FAILED_REPORT_FILENAME))
  return 0


if __name__ == "__main__":
  cli.run(main)
