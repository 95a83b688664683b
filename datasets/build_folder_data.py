"""Builds TFRecords from any folder of images + masks (CamVid, custom sets).

  # SegNet's CamVid: list files of "image label" paths; relative to --root,
  # or SegNet's own absolute /SegNet/CamVid/... (resolved under --root)
  python -m datasets.build_folder_data --root=.../camvid --dataset=camvid \
      --splits=train=train.txt,val=val.txt --output_dir=data/camvid

  # a custom dataset: label map + same-stem image/mask folders
  python -m datasets.build_folder_data --root=.../mydata \
      --dataset=mydata_labels.json --image_dir=images --mask_dir=masks \
      --split=train --mask_format=rgb --output_dir=data/mydata

Masks: raw-id PNGs, palette PNGs (index = id) or RGB colour PNGs mapped
through the label map's colours (--mask_format, default: from the PNG mode).
"""

from absl import flags

from deeplab_tf import cli
from deeplab_tf.data.image_io import MASK_FORMATS

FLAGS = flags.FLAGS
flags.DEFINE_string("root", None, "Dataset root; list and folder paths are "
                    "relative to it (an absolute or foreign-prefixed list "
                    "path, e.g. SegNet's /SegNet/CamVid/train/x.png, "
                    "resolves by its longest suffix that exists under it).")
flags.DEFINE_string("dataset", None, "Built-in dataset name or label-map "
                    "file (classes, ids, colours, ignore label).")
flags.DEFINE_string("output_dir", None, "Where the TFRecords go.")
flags.DEFINE_list("splits", [], "split=list_file pairs; each list line is "
                  "'image label' or a bare stem.")
flags.DEFINE_string("split", "train", "Split name when no --splits lists.")
flags.DEFINE_string("image_dir", "images", "Image folder under --root.")
flags.DEFINE_string("mask_dir", "masks", "Mask folder under --root.")
flags.DEFINE_string("mask_suffix", ".png", "Mask file = stem + suffix.")
flags.DEFINE_enum("mask_format", "auto", list(MASK_FORMATS),
                  "raw ids, palette indices, rgb colours, or auto.")
flags.DEFINE_integer("num_shards", 4, "Shards per split.")
flags.DEFINE_integer("num_workers", None, "Encoding processes.")
flags.mark_flags_as_required(["root", "dataset", "output_dir"])


def main(argv):
  from deeplab_tf.data.builders import build_folder, parse_split_lists  # pylint: disable=g-import-not-at-top
  del argv
  build_folder(FLAGS.root, FLAGS.output_dir, FLAGS.dataset,
               split_lists=parse_split_lists(FLAGS.splits),
               split=FLAGS.split, image_dir=FLAGS.image_dir,
               mask_dir=FLAGS.mask_dir, mask_suffix=FLAGS.mask_suffix,
               mask_format=FLAGS.mask_format, num_shards=FLAGS.num_shards,
               num_workers=FLAGS.num_workers)


if __name__ == "__main__":
  cli.run(main)
