"""Checking a built split before training on it.

Reads every record, decodes both images, checks that sizes agree and that
label values are class ids or the ignore label, and gathers the class pixel
histogram with suggested (median-frequency) class weights.
"""

import dataclasses
from typing import List, Tuple

import numpy as np
import tensorflow as tf

from deeplab_tf.data import tfrecord_schema as schema
from deeplab_tf.data.descriptor import DatasetDescriptor
from deeplab_tf.data.errors import DataError
from deeplab_tf.data.image_io import check_jpeg_strictly, format_values
from deeplab_tf.data.input_pipeline import list_split_files


@dataclasses.dataclass
class ValidationReport:
  """What `validate_split` found.

  Attributes:
    split: split name.
    num_records: records read (good and bad).
    histogram: int64 [256] pixels per label value over the good records.
    bad_records: (record name, reason) for every bad record.
    descriptor: the descriptor checked against.
  """
  split: str
  num_records: int
  histogram: np.ndarray
  bad_records: List[Tuple[str, str]]
  descriptor: DatasetDescriptor

  @property
  def ok(self) -> bool:
    return self.num_records > 0 and not self.bad_records

  def class_pixels(self) -> np.ndarray:
    """Pixels per class id [num_classes]; the ignore label's pixels count
    nowhere (also when it is a class id, as ADE20K's 0)."""
    pixels = self.histogram[:self.descriptor.num_classes].copy()
    if self.descriptor.ignore_is_class:
      pixels[self.descriptor.ignore_label] = 0
    return pixels

  def class_weights(self) -> np.ndarray:
    """Median-frequency weights median(f) / f_c (0 for absent classes and
    the ignore label), as used for CamVid by SegNet."""
    pixels = self.class_pixels().astype(np.float64)
    weights = np.zeros_like(pixels)
    present = pixels > 0
    if present.any():
      freq = pixels / pixels.sum()
      weights[present] = np.median(freq[present]) / freq[present]
    return weights


def _decode(features, name):
  """Decodes one parsed record; returns (H, W, label array) or raises."""
  def value(key):
    if key not in features.feature:
      raise DataError("%s: missing feature %s" % (name, key))
    return features.feature[key]
  image_bytes = value(schema.IMAGE_ENCODED).bytes_list.value[0]
  label_bytes = value(schema.LABEL_ENCODED).bytes_list.value[0]
  if image_bytes[:2] == b"\xff\xd8":  # JPEG: TensorFlow only warns
    check_jpeg_strictly(image_bytes, "%s: image" % name)
  try:
    image = tf.io.decode_image(image_bytes, channels=3,
                               expand_animations=False)
  except (tf.errors.InvalidArgumentError, ValueError) as e:
    raise DataError("%s: image does not decode (%s)"
                    % (name, e.message if hasattr(e, "message") else e)) from None
  try:
    label = tf.io.decode_png(label_bytes, channels=1)[..., 0].numpy()
  except tf.errors.InvalidArgumentError as e:
    raise DataError("%s: label does not decode (%s)" % (name, e.message)) from None
  height, width = int(image.shape[0]), int(image.shape[1])
  if label.shape != (height, width):
    raise DataError("%s: image is %dx%d but label is %dx%d (HxW)"
                    % (name, height, width, label.shape[0], label.shape[1]))
  stored = (value(schema.IMAGE_HEIGHT).int64_list.value[0],
            value(schema.IMAGE_WIDTH).int64_list.value[0])
  if stored != (height, width):
    raise DataError("%s: image/height,width say %dx%d but the image is %dx%d"
                    % ((name,) + stored + (height, width)))
  return label


def validate_split(dataset_dir: str, split: str,
                   descriptor: DatasetDescriptor) -> ValidationReport:
  """Reads every record of `split`; see ValidationReport.

  Raises:
    DataError: the directory or the split does not exist.
  """
  histogram = np.zeros(256, np.int64)
  bad, count = [], 0
  for path in list_split_files(dataset_dir, split):
    index = -1
    try:
      for index, record in enumerate(
          tf.data.TFRecordDataset(path).as_numpy_iterator()):
        count += 1
        name = "%s record %d" % (path, index)
        try:
          example = tf.train.Example.FromString(record)
          filename = example.features.feature[
              schema.IMAGE_FILENAME].bytes_list.value
          if filename:
            name = "%s (%s)" % (filename[0].decode("utf-8", "replace"), name)
          label = _decode(example.features, name)
          values = np.bincount(label.ravel(), minlength=256)
          invalid = [int(v) for v in np.nonzero(values)[0]
                     if not descriptor.valid_label(int(v))]
          if invalid:
            raise DataError(
                "%s: label values %s outside [0, %d) and not the ignore "
                "label %d" % (name, format_values(invalid), descriptor.num_classes,
                              descriptor.ignore_label))
          histogram += values
        except DataError as e:
          bad.append((name, str(e)))
        except Exception as e:  # pylint: disable=broad-except
          bad.append((name, "%s: unreadable record (%s: %s)"
                      % (name, type(e).__name__, e)))
    except (tf.errors.DataLossError, tf.errors.OutOfRangeError) as e:
      bad.append((path, "%s: TFRecord file is truncated or corrupt after "
                  "record %d (%s)" % (path, index, e.message)))
  if count == 0:
    bad.append((split, "split %r in %s has no records" % (split, dataset_dir)))
  return ValidationReport(split, count, histogram, bad, descriptor)


def validate_tfds_split(source, split: str,
                        descriptor: DatasetDescriptor) -> ValidationReport:
  """`validate_split` for a `tfds_source.TfdsSource`: every example of the
  split decoded and converted as training sees it, named by TFDS id.

  Raises:
    DataError: unknown dataset, data directory, split or feature.
  """
  from deeplab_tf.data import tfds_source  # pylint: disable=g-import-not-at-top
  dataset, decode = tfds_source.read_split(source, split, shuffle_files=False)
  histogram = np.zeros(256, np.int64)
  bad, count = [], 0
  for example in dataset:
    count += 1
    name = "tfds:%s %s" % (source.name,
                           example[tfds_source.TFDS_ID].numpy().decode())
    try:
      label = decode(example)["label"].numpy()
      values = np.bincount(label.ravel(), minlength=256)
      invalid = [int(v) for v in np.nonzero(values)[0]
                 if not descriptor.valid_label(int(v))]
      if invalid:
        raise DataError(
            "%s: label values %s outside [0, %d) and not the ignore label %d"
            % (name, format_values(invalid), descriptor.num_classes,
               descriptor.ignore_label))
      histogram += values
    except DataError as e:
      bad.append((name, str(e)))
    except tf.errors.OpError as e:
      bad.append((name, "%s: %s" % (name, e.message.splitlines()[0])))
  if count == 0:
    bad.append((split, "split %r of tfds:%s has no examples"
                % (split, source.name)))
  return ValidationReport(split, count, histogram, bad, descriptor)


def format_report(report: ValidationReport) -> str:
  """A human-readable summary: counts, per-class table, bad records."""
  d = report.descriptor
  pixels = report.class_pixels()
  total = max(int(pixels.sum()), 1)
  weights = report.class_weights()
  lines = ["dataset %s, split %s: %d records, %d bad"
           % (d.name, report.split, report.num_records,
              len(report.bad_records)),
           "ignore label %d: %d pixels" % (d.ignore_label,
                                          int(report.histogram[d.ignore_label])),
           "%4s  %-24s %14s %8s %8s" % ("id", "class", "pixels", "share",
                                       "weight")]
  for i, name in enumerate(d.class_names):
    lines.append("%4d  %-24s %14d %7.3f%% %8.3f"
                 % (i, name[:24], pixels[i], 100.0 * pixels[i] / total,
                    weights[i]))
  absent = [d.class_names[i] for i in range(d.num_classes)
            if pixels[i] == 0 and i != d.ignore_label]
  if absent:
    lines.append("classes with no pixels: %s" % ", ".join(absent))
  for _, reason in report.bad_records:
    lines.append("BAD: %s" % reason)
  return "\n".join(lines)
