"""Writes one of our TFRecord datasets as a prepared TFDS dataset.

  python -m datasets.export_tfds --dataset=camvid --dataset_dir=data/camvid \
      --output_dir=tfds_data [--tfds_name=camvid] [--splits=train,val]

Then `tfds.load("camvid", data_dir="tfds_data")` reads it anywhere, and
`python train.py --dataset=tfds:camvid --tfds_data_dir=tfds_data` trains on
it. Features: `image` (the original encoded image), `segmentation_mask`
(PNG of class ids), `file_name`; the label map is in the dataset metadata.
"""

from absl import flags

from deeplab_tf import cli
from deeplab_tf import cli_flags

FLAGS = flags.FLAGS
# --dataset (default: <dataset_dir>/label_map.json), --dataset_dir.
cli_flags.define(*cli_flags.DATASET_FLAGS)
flags.DEFINE_string("output_dir", None, "TFDS data directory to write to.")
flags.DEFINE_string("tfds_name", None, "TFDS dataset name (default: the "
                    "dataset's name).")
flags.DEFINE_list("splits", [], "Splits to export (default: all).")
flags.DEFINE_string("version", "1.0.0", "TFDS version x.y.z.")
flags.DEFINE_integer("num_shards", None, "Files per split (default: TFDS's "
                     "choice by size).")
flags.mark_flags_as_required(["dataset_dir", "output_dir"])


def main(argv):
  del argv
  from deeplab_tf.data import get_dataset_descriptor  # pylint: disable=g-import-not-at-top
  from deeplab_tf.data.tfds_export import export_to_tfds  # pylint: disable=g-import-not-at-top
  descriptor = get_dataset_descriptor(FLAGS.dataset or FLAGS.dataset_dir)
  path = export_to_tfds(FLAGS.dataset_dir, descriptor,
                        FLAGS.output_dir, name=FLAGS.tfds_name,
                        splits=FLAGS.splits or None, version=FLAGS.version,
                        num_shards=FLAGS.num_shards)
  print("wrote %s" % path)


if __name__ == "__main__":
  cli.run(main)
