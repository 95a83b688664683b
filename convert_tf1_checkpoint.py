r"""Converts an authors' TF1 model-zoo checkpoint into a deeplab_tf checkpoint.

The result is a directory that eval.py, export.py and train.py
(--tf_initial_checkpoint) read like any train_logdir: `ckpt-0` plus the
configuration JSON, so no model flag has to be repeated later.

  python convert_tf1_checkpoint.py \
    --tf1_checkpoint=deeplabv3_pascal_train_aug/model.ckpt \
    --output_dir=converted/xception65_voc \
    --model_variant=xception_65 --atrous_rates=6 --atrous_rates=12 \
    --atrous_rates=18 --output_stride=16 --decoder_output_stride=4 \
    --dataset=pascal_voc_seg

Model flags keep the authors' names and list syntax (--atrous_rates given
once per rate). ImageNet backbone checkpoints: --backbone_only.
"""

from absl import app, flags

from deeplab_tf import cli

FLAGS = flags.FLAGS
flags.DEFINE_string("tf1_checkpoint", None,
                    "TF1 checkpoint prefix (.../model.ckpt) or directory.")
flags.DEFINE_string("output_dir", None, "Directory to write (must not exist "
                    "or be empty).")
flags.DEFINE_string("dataset", None, "Built-in dataset name or label-map "
                    "file; gives num_classes and class names.")
flags.DEFINE_integer("num_classes", None, "Classes (default: the dataset's).")
flags.DEFINE_string("model_variant", "xception_65", "Backbone.")
flags.DEFINE_integer("output_stride", 16, "Output stride.")
flags.DEFINE_multi_integer("atrous_rates", None, "ASPP rates, one flag each.")
flags.DEFINE_list("decoder_output_stride", None, "Decoder stride, e.g. 4.")
flags.DEFINE_boolean("aspp_with_separable_conv", True, "Separable ASPP.")
flags.DEFINE_boolean("decoder_use_separable_conv", True, "Separable decoder.")
flags.DEFINE_boolean("add_image_level_feature", True, "Image pooling branch.")
flags.DEFINE_multi_integer("multi_grid", None, "Unit rates of the last block.")
flags.DEFINE_float("depth_multiplier", 1.0, "MobileNetV2 width multiplier.")
flags.DEFINE_list("crop_size", ["513", "513"], "Crop height,width.")
flags.DEFINE_boolean("skip_logits", False, "Do not load the logits (another "
                     "class count).")
flags.DEFINE_boolean("backbone_only", False, "Load only the backbone "
                     "(ImageNet checkpoints).")


def main(argv):
  del argv
  from deeplab_tf import ModelOptions  # pylint: disable=g-import-not-at-top
  from deeplab_tf.tf1_convert import (convert_tf1_checkpoint,  # pylint: disable=g-import-not-at-top
                                      dataset_section)

  for name in ("tf1_checkpoint", "output_dir"):
    if not getattr(FLAGS, name):
      raise app.UsageError("--%s is required" % name)
  try:
    dataset = dataset_section(FLAGS.dataset, FLAGS.num_classes)
    opts = ModelOptions(
        model_variant=FLAGS.model_variant,
        num_classes=dataset["num_classes"],
        output_stride=FLAGS.output_stride,
        atrous_rates=FLAGS.atrous_rates,
        decoder_output_stride=FLAGS.decoder_output_stride,
        aspp_with_separable_conv=FLAGS.aspp_with_separable_conv,
        decoder_use_separable_conv=FLAGS.decoder_use_separable_conv,
        add_image_level_feature=FLAGS.add_image_level_feature,
        multi_grid=FLAGS.multi_grid,
        depth_multiplier=FLAGS.depth_multiplier,
        crop_size=[int(c) for c in FLAGS.crop_size])
  except ValueError as e:
    raise app.UsageError(str(e)) from None
  try:
    prefix, report = convert_tf1_checkpoint(
        FLAGS.tf1_checkpoint, FLAGS.output_dir, opts, dataset,
        skip_logits=FLAGS.skip_logits, backbone_only=FLAGS.backbone_only)
  except FileExistsError as e:
    raise app.UsageError("--output_dir: %s" % e) from None
  print("wrote %s (%d variables from %s)" % (prefix, len(report.loaded),
                                             report.checkpoint))


if __name__ == "__main__":
  cli.run(main)
