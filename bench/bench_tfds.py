"""Input-pipeline throughput of the same CamVid split read from our TFRecords
and from TFDS (the same records exported with `datasets.export_tfds`).

Builds the split once with the folder builder (SegNet's CamVid, 480x360 RGB
PNGs), exports it to a TFDS data directory, then times, interleaved in one
run so machine load affects both alike:
  * train: the training pipeline (decode, random scale 0.5-2.0, pad, crop,
    flip, batch) at `--crop`, `--batches` batches of `--batch` per run;
  * eval: one ordered pass of the evaluation pipeline (decode, pad).
Each timed run builds its pipeline afresh and warms it up, so only one
pipeline is alive while it is timed. Reports median images/s per source and
the TFDS / TFRecord ratio.

    python bench/bench_tfds.py                       # ../shared/data/camvid
    python bench/bench_tfds.py --split=val --repeats=7 --json=out.json
"""

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import tensorflow as tf  # noqa: E402

from deeplab_tf.data import get_dataset_descriptor  # noqa: E402
from deeplab_tf.data import tfrecord_schema  # noqa: E402
from deeplab_tf.data.builders import build_folder  # noqa: E402
from deeplab_tf.data.input_pipeline import (build_eval_dataset,  # noqa: E402
                                            build_train_dataset)
from deeplab_tf.data.tfds_export import export_to_tfds  # noqa: E402
from deeplab_tf.data.tfds_source import TfdsSource  # noqa: E402

CAMVID = get_dataset_descriptor("camvid")
MEAN_PIXEL = 127.5
TFDS_NAME = "camvid_bench"


def prepare(camvid_root, work, split, num_shards):
  """(records dir, TfdsSource) of the split, built/exported once."""
  records = os.path.join(work, "records")
  if not tfrecord_schema.split_files(records, split):
    start = time.perf_counter()
    build_folder(camvid_root, records, CAMVID,
                 split_lists={split: "%s.txt" % split},
                 num_shards=num_shards, verbose=False)
    print("built CamVid %s in %.1f s" % (split, time.perf_counter() - start))
  tfds_dir = os.path.join(work, "tfds")
  if not os.path.isdir(os.path.join(tfds_dir, TFDS_NAME)):
    start = time.perf_counter()
    export_to_tfds(records, CAMVID, tfds_dir, name=TFDS_NAME, splits=[split],
                   num_shards=num_shards)
    print("exported to TFDS in %.1f s" % (time.perf_counter() - start))
  return records, TfdsSource(TFDS_NAME, data_dir=tfds_dir)


def train_iterator(source, split, crop, batch):
  return iter(build_train_dataset(
      source, split, crop_size=(crop, crop), batch_size=batch,
      ignore_label=CAMVID.ignore_label, mean_pixel=MEAN_PIXEL, seed=None))


def time_train(iterator, batches, batch):
  start = time.perf_counter()
  for _ in range(batches):
    next(iterator)["image"].numpy()
  return batches * batch / (time.perf_counter() - start)


def time_eval(source, split, crop):
  dataset = build_eval_dataset(source, split, crop_size=(crop, crop),
                               batch_size=1, ignore_label=CAMVID.ignore_label,
                               mean_pixel=MEAN_PIXEL)
  start, count = time.perf_counter(), 0
  for batch in dataset:
    batch["image"].numpy()
    count += 1
  return count / (time.perf_counter() - start)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--camvid_root", default=os.path.join(
      REPO, "..", "shared", "data", "camvid"))
  parser.add_argument("--work_dir", default=None,
                      help="records + TFDS copies (default: a temp dir)")
  parser.add_argument("--split", default="train")
  parser.add_argument("--num_shards", type=int, default=4)
  parser.add_argument("--crop", type=int, default=513)
  parser.add_argument("--batch", type=int, default=8)
  parser.add_argument("--batches", type=int, default=8)
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument("--warmup", type=int, default=3)
  parser.add_argument("--eval_repeats", type=int, default=3)
  parser.add_argument("--json", default=None)
  args = parser.parse_args()

  work = args.work_dir or tempfile.mkdtemp(prefix="bench_tfds_")
  records, tfds_source = prepare(args.camvid_root, work, args.split,
                                 args.num_shards)
  sources = {"tfrecord": records, "tfds": tfds_source}
  train = {k: [] for k in sources}
  for _ in range(args.repeats):  # interleaved: A B A B ...
    for k, s in sources.items():
      # One pipeline alive at a time, so neither prefetches in the
      # background while the other is timed.
      iterator = train_iterator(s, args.split, args.crop, args.batch)
      for _ in range(args.warmup):
        next(iterator)["image"].numpy()
      train[k].append(time_train(iterator, args.batches, args.batch))
      del iterator
  evals = {k: [] for k in sources}
  for _ in range(args.eval_repeats):
    for k, s in sources.items():
      evals[k].append(time_eval(s, args.split, args.crop))

  result = {"device": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "tensorflow": tf.__version__,
            "split": args.split, "crop": args.crop, "batch": args.batch,
            "num_shards": args.num_shards}
  for name, runs in (("train", train), ("eval", evals)):
    medians = {k: statistics.median(v) for k, v in runs.items()}
    result[name] = {"images_per_s_median": medians, "runs": runs,
                    "tfds_over_tfrecord": medians["tfds"]
                    / medians["tfrecord"]}
    print("%-5s pipeline: TFRecord %.1f images/s, TFDS %.1f images/s "
          "(median of %d), TFDS/TFRecord %.2f"
          % (name, medians["tfrecord"], medians["tfds"], len(runs["tfds"]),
             result[name]["tfds_over_tfrecord"]))
  if args.json:
    with open(args.json, "w") as f:
      json.dump(result, f, indent=1)
  print(json.dumps(result, indent=1))


if __name__ == "__main__":
  main()
