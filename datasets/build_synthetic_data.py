"""Writes the synthetic dataset (train + val, reference schema).

  python -m datasets.build_synthetic_data --output_dir=data/synthetic
"""

from absl import flags

from deeplab_tf import cli

FLAGS = flags.FLAGS
flags.DEFINE_string("output_dir", None, "Where the TFRecords go.")
flags.DEFINE_integer("num_train", 64, "Training examples.")
flags.DEFINE_integer("num_val", 16, "Validation examples.")
flags.DEFINE_list("image_size", ["128", "128"], "height,width.")
flags.DEFINE_integer("seed", 0, "Generator seed.")
flags.DEFINE_integer("num_shards", 2, "Shards per split.")
flags.DEFINE_integer("num_workers", None, "Encoding processes.")
flags.mark_flags_as_required(["output_dir"])


def main(argv):
  from deeplab_tf.data.synthetic import write_synthetic_dataset  # pylint: disable=g-import-not-at-top
  del argv
  size = [int(v) for v in FLAGS.image_size]
  write_synthetic_dataset(FLAGS.output_dir,
                          num_train=FLAGS.num_train, num_val=FLAGS.num_val,
                          image_size=(size[0], size[-1]), seed=FLAGS.seed,
                          num_shards=FLAGS.num_shards,
                          num_workers=FLAGS.num_workers,
                          verbose=True)


if __name__ == "__main__":
  cli.run(main)
