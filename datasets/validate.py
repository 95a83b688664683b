"""Checks a built split: decodes every record, sizes, label values.

  python -m datasets.validate --dataset=pascal_voc_seg \
      --dataset_dir=data/pascal_voc_seg --split=train

Prints the class pixel histogram and suggested class weights, lists every
bad record, and exits with status 1 when anything is wrong.
"""

import sys

from absl import flags

from deeplab_tf import cli
from deeplab_tf.data import get_dataset_descriptor
from deeplab_tf.data.errors import run_or_exit

FLAGS = flags.FLAGS
flags.DEFINE_string("dataset", None, "Built-in dataset name or label-map "
                    "file (default: <dataset_dir>/label_map.json).")
flags.DEFINE_string("dataset_dir", None, "Directory of the TFRecords.")
flags.DEFINE_string("split", None, "Split to check.")
flags.mark_flags_as_required(["dataset_dir", "split"])


def main(argv):
  from deeplab_tf.data.validation import format_report, validate_split  # pylint: disable=g-import-not-at-top
  del argv
  descriptor = run_or_exit(get_dataset_descriptor,
                           FLAGS.dataset or FLAGS.dataset_dir)
  report = run_or_exit(validate_split, FLAGS.dataset_dir, FLAGS.split,
                       descriptor)
  print(format_report(report))
  if not report.ok:
    print("ERROR: %d bad record(s) in split %s"
          % (len(report.bad_records), FLAGS.split), file=sys.stderr)
    sys.exit(1)
  print("OK")


if __name__ == "__main__":
  cli.run(main)
