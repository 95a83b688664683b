"""Evaluates train.py checkpoints (flags -> one RunConfig -> evaluator).

The model and dataset come from `<checkpoint_dir>/deeplab_config.json`, so
no model flag is needed; a model flag that conflicts with it is an error.
Only eval_split, eval_crop_size, output_stride (with atrous_rates),
eval_scales and add_flipped_images (and dataset_dir, if the data moved) may
change. With no flags it evaluates runs/default (the embedded run).

  python eval.py --checkpoint_dir=runs/voc --eval_logdir=runs/voc/eval \
    --output_stride=8 --eval_scales=0.5,0.75,1.0,1.25,1.5,1.75 \
    --add_flipped_images

An authors' TF1 model-zoo checkpoint is evaluated directly, in memory, with
--tf_initial_checkpoint; what it records (classes, backbone, ASPP branches,
decoder) is read from it and the model flags describe the rest:

  python eval.py --tf_initial_checkpoint=xception65_voc/model.ckpt \
    --dataset=pascal_voc_seg --dataset_dir=tfrecord --eval_logdir=eval_zoo \
    --model_variant=xception_65 --decoder_output_stride=4
"""

import os

from absl import app
from absl import flags

from deeplab_tf import cli
from deeplab_tf import cli_flags

FLAGS = flags.FLAGS

cli_flags.define("checkpoint_dir", "tf_initial_checkpoint")
flags.DEFINE_string("eval_logdir", None,
                    "Output directory (default <checkpoint_dir>/eval).")
# --dataset describes a --tf_initial_checkpoint's classes, --dataset_dir
# overrides the saved one. TensorFlow Datasets:
# --dataset=tfds:<name>[/<config>][:<version>] evaluates on a TFDS split
# (with the checkpoint's classes); a run trained on TFDS reads its saved TFDS
# dataset again.
cli_flags.define(*cli_flags.DATASET_FLAGS)
cli_flags.define(*cli_flags.TFDS_FLAGS)
flags.DEFINE_string("eval_split", "val", "Split to evaluate.")
flags.DEFINE_list("eval_crop_size", None,
                  "Pad images to at least 'height,width' (default: the "
                  "training crop).")
cli_flags.define("eval_scales", "add_flipped_images")
flags.DEFINE_integer("eval_batch_size", 1, "Images per batch.")
cli_flags.define_choice("inference_mode", "whole",
                        "deeplab_tf.evaluation.config:INFERENCE_MODES",
                        "'whole': pad each image to the eval crop; 'sliding': "
                        "overlapping windows (large images, memory bounded by "
                        "the window), combined with eval_scales / flips per "
                        "window.")
cli_flags.define(*cli_flags.WINDOW_FLAGS)
flags.DEFINE_list("trimap_widths", [], "Boundary-band widths in pixels for "
                  "the trimap metric, e.g. 2,4,8,16,32.")
flags.DEFINE_integer("max_number_of_evaluations", 1,
                     "1: one pass; 0: wait for new checkpoints forever.")
flags.DEFINE_float("eval_interval_secs", 60, "Continuous-mode polling.")
flags.DEFINE_float("eval_timeout_secs", None,
                   "Continuous mode ends after this long without a new "
                   "checkpoint.")
flags.DEFINE_string("vis_logdir", None, "Write visualisations here.")
flags.DEFINE_integer("vis_max_images", None, "Draw at most this many.")
flags.DEFINE_boolean("also_save_raw_predictions", False,
                     "Raw label-id PNGs in <vis_logdir>/raw.")
flags.DEFINE_boolean("convert_to_cityscapes_label_ids", False,
                     "Raw PNGs as Cityscapes labelIds (test server).")
# Model flags: must match the checkpoint's saved configuration (a conflict
# is an error), except output_stride and atrous_rates, at which the model is
# evaluated; with --tf_initial_checkpoint they describe the TF1 model.
cli_flags.define(*cli_flags.MODEL_FLAGS)

MODEL_FLAGS = tuple(n for n in cli_flags.MODEL_FLAGS
                    if n not in ("output_stride", "atrous_rates"))


def tfds_source_from_flags():
  """The TfdsSource of --dataset=tfds:..., or None."""
  from deeplab_tf.data import tfds_source
  if not tfds_source.is_tfds(FLAGS.dataset):
    return None
  return tfds_source.TfdsSource.from_values(FLAGS.dataset, {
      name: FLAGS[name].value for name in tfds_source.FLAG_NAMES})


def zoo_run_for_eval(name, model_flags):
  """--tf_initial_checkpoint=zoo:<name>: the cached converted run directory
  (the registry gives the model and the classes)."""
  from deeplab_tf.zoo.flags import run_dir_for_flag
  if FLAGS.checkpoint_dir or FLAGS.dataset:
    raise app.UsageError("--tf_initial_checkpoint=zoo:%s brings its model "
                         "and classes: drop --checkpoint_dir / --dataset"
                         % name)
  return run_dir_for_flag(FLAGS.tf_initial_checkpoint, model_flags)


def eval_fields_from_flags():
  """The EvalConfig fields the flags set (besides checkpoint and crop),
  with `sliding`: the window settings of --inference_mode=sliding."""
  try:
    scales = tuple(float(s) for s in FLAGS.eval_scales)
    widths = tuple(int(w) for w in FLAGS.trimap_widths)
  except ValueError as e:
    raise app.UsageError("--eval_scales / --trimap_widths: %s" % e) from None
  sliding = None
  if FLAGS.inference_mode == "sliding":
    sliding = {"window_size": cli_flags.size("window_size"),
               "window_stride": cli_flags.size("window_stride"),
               "batch_size": FLAGS.window_batch_size,
               "weighting": FLAGS.window_weighting}
  elif FLAGS.window_size or FLAGS.window_stride:
    raise app.UsageError("--window_size / --window_stride only apply with "
                         "--inference_mode=sliding")
  return dict(
      eval_scales=scales, add_flipped_images=FLAGS.add_flipped_images,
      eval_batch_size=FLAGS.eval_batch_size, trimap_widths=widths,
      vis_logdir=FLAGS.vis_logdir, vis_max_images=FLAGS.vis_max_images,
      also_save_raw_predictions=FLAGS.also_save_raw_predictions,
      convert_to_cityscapes_label_ids=FLAGS.convert_to_cityscapes_label_ids,
      max_number_of_evaluations=FLAGS.max_number_of_evaluations,
      eval_interval_secs=FLAGS.eval_interval_secs,
      eval_timeout_secs=FLAGS.eval_timeout_secs, sliding=sliding)


def config_from_flags():
  """Flags -> a validated RunConfig with its eval section."""
  from deeplab_tf.evaluation import resolve
  from deeplab_tf.training.defaults import DEFAULT_TRAIN_LOGDIR
  from deeplab_tf.config import parse_decoder_output_stride
  from deeplab_tf.zoo.flags import zoo_name
  checkpoint_dir = (FLAGS.checkpoint_dir or FLAGS.tf_initial_checkpoint
                    or DEFAULT_TRAIN_LOGDIR)
  eval_logdir = FLAGS.eval_logdir or os.path.join(
      checkpoint_dir if os.path.isdir(checkpoint_dir)
      else os.path.dirname(checkpoint_dir), "eval")
  model_flags = {name: FLAGS[name].value for name in MODEL_FLAGS
                 if FLAGS[name].present}
  zoo = zoo_name(FLAGS.tf_initial_checkpoint)
  if FLAGS.tf_initial_checkpoint and not zoo:
    if FLAGS.checkpoint_dir:
      raise app.UsageError("give --checkpoint_dir or --tf_initial_checkpoint, "
                           "not both")
    # Evaluated in memory: the model it records, the flags for the rest.
    return resolve.eval_run_from_tf1(
        FLAGS.tf_initial_checkpoint, eval_logdir,
        model_values=dict(model_flags, output_stride=FLAGS.output_stride,
                          atrous_rates=FLAGS.atrous_rates),
        dataset=FLAGS.dataset, dataset_dir=FLAGS.dataset_dir,
        tfds=tfds_source_from_flags(), eval_split=FLAGS.eval_split,
        crop_size=cli_flags.size("eval_crop_size"), **eval_fields_from_flags())
  if zoo:
    eval_logdir = FLAGS.eval_logdir or os.path.join("runs", "zoo", zoo, "eval")
    checkpoint_dir = zoo_run_for_eval(zoo, model_flags)
    model_flags = {}  # checked against the registry above
  elif FLAGS.dataset and not tfds_source_from_flags():
    raise app.UsageError("--dataset=%s: the dataset comes from the "
                         "checkpoint's configuration; --dataset only "
                         "describes a --tf_initial_checkpoint (use "
                         "--dataset_dir if the data moved)" % FLAGS.dataset)
  if "decoder_output_stride" in model_flags:
    model_flags["decoder_output_stride"] = parse_decoder_output_stride(
        model_flags["decoder_output_stride"])
  return resolve.eval_run_from_checkpoint(
      checkpoint_dir, eval_logdir,
      overrides={"output_stride": FLAGS.output_stride,
                 "atrous_rates": FLAGS.atrous_rates,
                 "dataset_dir": FLAGS.dataset_dir,
                 "tfds": tfds_source_from_flags(),
                 "tfds_data_dir": FLAGS.tfds_data_dir,
                 "eval_crop_size": cli_flags.size("eval_crop_size")},
      model_flags=model_flags, eval_split=FLAGS.eval_split,
      **eval_fields_from_flags())


def main(argv):
  if len(argv) > 1:
    raise app.UsageError("unexpected arguments: %s" % " ".join(argv[1:]))
  from deeplab_tf.evaluation import evaluator
  # A bad flag, path or input: one line, no traceback (cli.run).
  run = config_from_flags()
  result = evaluator.run(run)
  config = run.eval
  print("mIoU %.4f  pixel accuracy %.4f  (step %s, %d images) -> %s"
        % (result["miou"], result["pixel_accuracy"], result["step"],
           result["num_images"],
           os.path.join(config.eval_logdir, "metrics.json")))
  if config.vis_logdir:
    print("visualisations of %d image(s) (*_image, *_prediction, *_overlay, "
          "*_label.png%s) -> %s" % (
              result.get("visualized_images", 0),
              ", raw/*.png" if config.also_save_raw_predictions else "",
              os.path.abspath(config.vis_logdir)))


if __name__ == "__main__":
  cli.run(main)
