"""Builds ADE20K (SceneParsing, 150 classes + 0 = other/ignore) TFRecords.

  python -m datasets.build_ade20k_data \
      --ade20k_root=.../ADEChallengeData2016 --output_dir=data/ade20k

`images/{training,validation}` + `annotations/...` give train and val; a flat
`images/` + `annotations/` pair is built as --split.
"""

from absl import flags

from deeplab_tf import cli

FLAGS = flags.FLAGS
flags.DEFINE_string("ade20k_root", None,
                    "Directory holding images/ and annotations/.")
flags.DEFINE_string("output_dir", None, "Where the TFRecords go.")
flags.DEFINE_string("split", "train", "Split name for a flat layout.")
flags.DEFINE_integer("num_shards", 4, "Shards per split (reference: 4).")
flags.DEFINE_integer("num_workers", None, "Encoding processes.")
flags.mark_flags_as_required(["ade20k_root", "output_dir"])


def main(argv):
  from deeplab_tf.data.builders import build_ade20k  # pylint: disable=g-import-not-at-top
  del argv
  build_ade20k(FLAGS.ade20k_root, FLAGS.output_dir,
               flat_split=FLAGS.split, num_shards=FLAGS.num_shards,
               num_workers=FLAGS.num_workers)


if __name__ == "__main__":
  cli.run(main)
