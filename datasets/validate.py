"""Checks a built split: decodes every record, sizes, label values.

  python -m datasets.validate --dataset=pascal_voc_seg \
      --dataset_dir=data/pascal_voc_seg --split=train
  python -m datasets.validate --dataset=tfds:oxford_iiit_pet --split=test

Prints the class pixel histogram and suggested class weights, lists every
bad record, and exits with status 1 when anything is wrong.
"""

from absl import app
from absl import flags

from deeplab_tf import cli
from deeplab_tf import cli_flags
from deeplab_tf.data import get_dataset_descriptor

FLAGS = flags.FLAGS
# --dataset (default: <dataset_dir>/label_map.json), --dataset_dir; TensorFlow
# Datasets: --dataset=tfds:<name>[/<config>][:<version>].
cli_flags.define(*cli_flags.DATASET_FLAGS)
cli_flags.define(*cli_flags.TFDS_FLAGS)
flags.DEFINE_string("split", None, "Split to check.")


def _validate_tfds():
  from deeplab_tf.data import tfds_source  # pylint: disable=g-import-not-at-top
  from deeplab_tf.data.validation import validate_tfds_split  # pylint: disable=g-import-not-at-top
  source = tfds_source.TfdsSource.from_values(FLAGS.dataset, {
      name: FLAGS[name].value for name in tfds_source.FLAG_NAMES})
  return validate_tfds_split(source, FLAGS.split,
                             tfds_source.descriptor_for(source))


def main(argv):
  from deeplab_tf.data.validation import format_report, validate_split  # pylint: disable=g-import-not-at-top
  from deeplab_tf.errors import UserError  # pylint: disable=g-import-not-at-top
  del argv
  # Checked here, not with flags.mark_flags_as_required: that validator would
  # bind every CLI loaded into the same process (tests/cli_helpers.py).
  if not FLAGS.split:
    raise app.UsageError("--split is required")
  if (FLAGS.dataset or "").startswith("tfds:"):
    report = _validate_tfds()
  else:
    if not FLAGS.dataset_dir:
      raise app.UsageError("--dataset_dir is required (or --dataset=tfds:...)")
    descriptor = get_dataset_descriptor(FLAGS.dataset or FLAGS.dataset_dir)
    report = validate_split(FLAGS.dataset_dir, FLAGS.split,
                            descriptor)
  print(format_report(report))
  if not report.ok:
    raise UserError("%d bad record(s) in split %s (listed above)"
                    % (len(report.bad_records), FLAGS.split))
  print("OK")


if __name__ == "__main__":
  cli.run(main)
