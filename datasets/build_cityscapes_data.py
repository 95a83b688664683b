"""Builds Cityscapes TFRecords (train_fine / val_fine / test_fine).

  python -m datasets.build_cityscapes_data \
      --cityscapes_root=.../cityscapes --output_dir=data/cityscapes

Labels: `*_gtFine_labelTrainIds.png` when present (--label_type=auto), else
`*_gtFine_labelIds.png` converted with the official labelId -> trainId table.
"""

from absl import flags

from deeplab_tf import cli

FLAGS = flags.FLAGS
flags.DEFINE_string("cityscapes_root", None,
                    "Directory holding leftImg8bit/ and gtFine/.")
flags.DEFINE_string("output_dir", None, "Where the TFRecords go.")
flags.DEFINE_enum("label_type", "auto", ["auto", "labelIds", "labelTrainIds"],
                  "Which gtFine label files to read.")
flags.DEFINE_bool("include_coarse", False,
                  "Also build train_coarse from gtCoarse.")
flags.DEFINE_integer("num_shards", 10, "Shards per split (reference: 10).")
flags.DEFINE_integer("num_workers", None, "Encoding processes.")
flags.mark_flags_as_required(["cityscapes_root", "output_dir"])


def main(argv):
  from deeplab_tf.data.builders import build_cityscapes  # pylint: disable=g-import-not-at-top
  del argv
  build_cityscapes(FLAGS.cityscapes_root, FLAGS.output_dir,
                   label_type=FLAGS.label_type,
                   include_coarse=FLAGS.include_coarse,
                   num_shards=FLAGS.num_shards, num_workers=FLAGS.num_workers)


if __name__ == "__main__":
  cli.run(main)
