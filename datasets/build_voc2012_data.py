"""Builds PASCAL VOC 2012 TFRecords (every split in ImageSets/Segmentation).

  python -m datasets.build_voc2012_data \
      --voc_root=.../VOCdevkit/VOC2012 --output_dir=data/pascal_voc_seg \
      [--train_aug_label_dir=.../SegmentationClassAug]

Palette PNGs in SegmentationClass become raw class ids (255 = void kept).
"""

from absl import flags

from deeplab_tf import cli

FLAGS = flags.FLAGS
flags.DEFINE_string("voc_root", None, "VOCdevkit/VOC2012 directory.")
flags.DEFINE_string("output_dir", None, "Where the TFRecords go.")
flags.DEFINE_string("train_aug_label_dir", None,
                    "SBD labels as PNGs (e.g. SegmentationClassAug); adds "
                    "the train_aug split.")
flags.DEFINE_string("train_aug_list", None,
                    "Ids of train_aug (default: ImageSets/Segmentation/"
                    "train_aug.txt, else all SBD labels not in val).")
flags.DEFINE_integer("num_shards", 4, "Shards per split (reference: 4).")
flags.DEFINE_integer("num_workers", None, "Encoding processes (default: "
                     "number of CPUs).")
flags.mark_flags_as_required(["voc_root", "output_dir"])


def main(argv):
  from deeplab_tf.data.builders import build_voc2012  # pylint: disable=g-import-not-at-top
  del argv
  build_voc2012(FLAGS.voc_root, FLAGS.output_dir,
                train_aug_label_dir=FLAGS.train_aug_label_dir,
                train_aug_list=FLAGS.train_aug_list,
                num_shards=FLAGS.num_shards, num_workers=FLAGS.num_workers)


if __name__ == "__main__":
  cli.run(main)
