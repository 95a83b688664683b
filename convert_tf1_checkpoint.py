r"""Converts an authors' TF1 model-zoo checkpoint into a deeplab_tf checkpoint.

The result is a directory that eval.py, export.py and train.py
(--tf_initial_checkpoint) read like any train_logdir: `ckpt-0` plus the
configuration JSON, so no model flag has to be repeated later.

  python convert_tf1_checkpoint.py \
    --tf1_checkpoint=deeplabv3_pascal_train_aug/model.ckpt \
    --output_dir=converted/xception65_voc --dataset=pascal_voc_seg

What the checkpoint records is read from it (deeplab_tf/tf1_inspect.py): the
backbone and depth multiplier, the class count (the logits' shape), which
ASPP branches exist and whether they and the decoder are separable. A model
flag may only add what it does not record (output stride, rate values,
decoder stride, multi_grid, crop); one that contradicts it is an error naming
both. Unset values are the paper's (output stride 16, rates 6/12/18 scaled to
it when the checkpoint has atrous branches, decoder at 4 when it has one), as
in eval.py and export.py. ImageNet backbone checkpoints: --backbone_only.
"""

from absl import app, flags

from deeplab_tf import cli
from deeplab_tf import cli_flags

FLAGS = flags.FLAGS
flags.DEFINE_string("tf1_checkpoint", None,
                    "TF1 checkpoint prefix (.../model.ckpt) or directory.")
flags.DEFINE_string("output_dir", None, "Directory to write (must not exist "
                    "or be empty).")
# The model: what the checkpoint records is read from it; a flag may only add
# what it does not record, one that contradicts it is an error naming both.
cli_flags.define(*cli_flags.MODEL_FLAGS)
cli_flags.define("add_image_level_feature", "crop_size")
# Class names and colours (its class count must equal the checkpoint's).
cli_flags.define("dataset")
flags.DEFINE_boolean("skip_logits", False, "Do not load the logits (another "
                     "class count).")
flags.DEFINE_boolean("backbone_only", False, "Load only the backbone "
                     "(ImageNet checkpoints).")

MODEL_FLAGS = cli_flags.MODEL_FLAGS + ("add_image_level_feature",)


def main(argv):
  del argv
  from deeplab_tf.data.data_config import as_size  # pylint: disable=g-import-not-at-top
  from deeplab_tf.tf1_convert import (checkpoint_descriptor,  # pylint: disable=g-import-not-at-top
                                      convert_tf1_checkpoint, tf1_run_config)
  from deeplab_tf.tf1_inspect import recorded_options  # pylint: disable=g-import-not-at-top

  for name in ("tf1_checkpoint", "output_dir"):
    if not getattr(FLAGS, name):
      raise app.UsageError("--%s is required" % name)
  values = {name: FLAGS[name].value for name in MODEL_FLAGS}
  new_logits = FLAGS.skip_logits or FLAGS.backbone_only
  if FLAGS.num_classes is None and FLAGS.dataset:
    # The dataset's class count is the model's unless the checkpoint's
    # logits are loaded (then they decide, and must agree with it).
    values["num_classes"] = checkpoint_descriptor(FLAGS.dataset,
                                                  None).num_classes
    if not new_logits and "num_classes" in recorded_options(
        FLAGS.tf1_checkpoint):
      del values["num_classes"]
  # A contradicting flag, a missing checkpoint, a non-empty --output_dir:
  # one line, no traceback (cli.run).
  run = tf1_run_config(
      FLAGS.tf1_checkpoint, values, FLAGS.dataset, ignore_logits=new_logits,
      crop_size=as_size(FLAGS.crop_size, "crop_size") if FLAGS.crop_size
      else None)
  prefix, report = convert_tf1_checkpoint(
      FLAGS.tf1_checkpoint, FLAGS.output_dir, run,
      skip_logits=FLAGS.skip_logits, backbone_only=FLAGS.backbone_only)
  print("wrote %s (%s, %d classes; %d variables from %s)"
        % (prefix, run.model.model_variant, run.model.num_classes,
           len(report.loaded), report.checkpoint))


if __name__ == "__main__":
  cli.run(main)
