"""Training input-pipeline throughput on real CamVid, next to the model's
training-step throughput, to show whether the pipeline is the bottleneck.

Builds CamVid's train split (367 RGB PNGs, 480x360) from SegNet's layout
with the folder builder, then times the training pipeline at 513x513 crops
with the paper's augmentation (random scale 0.5-2.0 step 0.25, pad, crop,
flip): `--repeats` runs of `--batches` batches each after a warm-up, median
images/s. Then times `--model_steps` training steps (forward, loss ignoring
void, backward, SGD update) of the MobileNetV2 zoo configuration on
pre-made batches at the same crop, median images/s.

    python bench/bench_input_pipeline.py                 # ../shared/data/camvid
    python bench/bench_input_pipeline.py --camvid_root=/data/camvid --skip_model
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

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from deeplab_tf import ModelOptions, build_model  # noqa: E402
from deeplab_tf.data import get_dataset_descriptor  # noqa: E402
from deeplab_tf.data import tfrecord_schema  # noqa: E402
from deeplab_tf.data.builders import build_folder  # noqa: E402
from deeplab_tf.data.input_pipeline import build_train_dataset  # noqa: E402

CAMVID = get_dataset_descriptor("camvid")
MEAN_PIXEL = 127.5


def ensure_camvid(camvid_root: str, records_dir: str) -> str:
  """Builds CamVid train once into records_dir (reused when present)."""
  if not tfrecord_schema.split_files(records_dir, "train"):
    start = time.perf_counter()
    build_folder(camvid_root, records_dir, CAMVID,
                 split_lists={"train": "train.txt"}, verbose=False)
    print("built CamVid train in %.1f s" % (time.perf_counter() - start))
  return records_dir


def bench_pipeline(records_dir, crop, batch, batches, repeats, warmup,
                   cache):
  """Median images/s of the training pipeline (host arrays, like a step)."""
  rates = []
  dataset = build_train_dataset(
      records_dir, "train", crop_size=(crop, crop), batch_size=batch,
      ignore_label=CAMVID.ignore_label, mean_pixel=MEAN_PIXEL, cache=cache)
  iterator = iter(dataset)
  for _ in range(warmup):
    next(iterator)["image"].numpy()
  for _ in range(repeats):
    start = time.perf_counter()
    for _ in range(batches):
      next(iterator)["image"].numpy()
    rates.append(batches * batch / (time.perf_counter() - start))
  return {"images_per_s_median": statistics.median(rates),
          "images_per_s_runs": rates, "batch": batch, "batches": batches,
          "cache": cache}


def bench_model(crop, batch, steps, warmup):
  """Median images/s of MobileNetV2 (zoo config) training steps."""
  opts = ModelOptions(model_variant="mobilenet_v2", atrous_rates=None,
                      decoder_output_stride=None,
                      num_classes=CAMVID.num_classes)
  model = build_model(opts, input_shape=(crop, crop, 3))
  optimizer = keras.optimizers.SGD(learning_rate=1e-3, momentum=0.9)
  rng = np.random.default_rng(0)
  images = tf.constant(rng.uniform(0, 255, (batch, crop, crop, 3)),
                       tf.float32)
  labels = tf.constant(rng.integers(0, CAMVID.num_classes + 1,
                                    (batch, crop, crop)), tf.int32)

  @tf.function
  def step(x, y):
    with tf.GradientTape() as tape:
      logits = model(x, training=True)
      valid = tf.not_equal(y, CAMVID.ignore_label)
      loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
          tf.boolean_mask(y, valid), tf.boolean_mask(logits, valid)))
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
    return loss

  for _ in range(warmup):
    step(images, labels).numpy()
  times = []
  for _ in range(steps):
    start = time.perf_counter()
    step(images, labels).numpy()
    times.append(time.perf_counter() - start)
  seconds = statistics.median(times)
  return {"images_per_s_median": batch / seconds, "step_s_median": seconds,
          "step_s_runs": times, "batch": batch}


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--camvid_root",
                      default=os.path.join(REPO, "..", "shared", "data",
                                           "camvid"))
  parser.add_argument("--records_dir", default=None,
                      help="where to build/reuse the CamVid TFRecords "
                           "(default: a temporary directory)")
  parser.add_argument("--crop", type=int, default=513)
  parser.add_argument("--batch", type=int, default=8)
  parser.add_argument("--batches", type=int, default=10)
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument("--warmup", type=int, default=3)
  parser.add_argument("--cache", action="store_true")
  parser.add_argument("--model_batch", type=int, default=2)
  parser.add_argument("--model_steps", type=int, default=3)
  parser.add_argument("--skip_model", action="store_true")
  parser.add_argument("--json", default=None, help="write results here")
  args = parser.parse_args()

  records_dir = args.records_dir or tempfile.mkdtemp(prefix="camvid_tfr_")
  ensure_camvid(args.camvid_root, records_dir)
  result = {"device": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "tensorflow": tf.__version__,
            "crop": args.crop}
  result["pipeline"] = bench_pipeline(records_dir, args.crop, args.batch,
                                      args.batches, args.repeats,
                                      args.warmup, args.cache)
  print("input pipeline: %.1f images/s (median of %d runs of %d x %d)"
        % (result["pipeline"]["images_per_s_median"], args.repeats,
           args.batches, args.batch))
  if not args.skip_model:
    result["model_mobilenet_v2"] = bench_model(
        args.crop, args.model_batch, args.model_steps, 1)
    model_rate = result["model_mobilenet_v2"]["images_per_s_median"]
    print("mobilenet_v2 training step: %.2f images/s (batch %d)"
          % (model_rate, args.model_batch))
    ratio = result["pipeline"]["images_per_s_median"] / model_rate
    result["pipeline_over_model"] = ratio
    print("pipeline / model throughput: %.1fx (%s)"
          % (ratio, "pipeline is not the bottleneck" if ratio > 1
             else "PIPELINE IS THE BOTTLENECK"))
  if args.json:
    with open(args.json, "w") as f:
      json.dump(result, f, indent=1)
  print(json.dumps(result, indent=1))


if __name__ == "__main__":
  main()
