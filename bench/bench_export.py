r"""Latency and size of the exported models (CPU, fixed thread count).

  python bench/bench_export.py --threads=2 --out=/tmp/bench_export

* TFLite float32 vs full int8 of the MobileNetV2 model-zoo configuration
  (OS16, no ASPP 3x3 branches, no decoder, 21 classes) at 513x513 and
  257x257, run with the ai-edge-litert interpreter (XNNPACK) on `--threads`;
* SavedModel `serving_default` (padding, softmax, argmax included) vs the
  Keras model (`model(x)` eagerly and `predict_on_batch`) for
  xception_65 DeepLabv3+ at 513x513, TensorFlow limited to `--threads`;
* the model file sizes.

Weights are random with BatchNorm statistics left at their initial values:
latency and size do not depend on the weights; int8 calibration uses
smooth synthetic images (also weight-independent for timing). Reports the
median and the 10th-90th percentile of `--iters` runs after warm-up.
"""

import json
import os
import statistics
import time

from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_integer("threads", 2, "CPU threads (TFLite and TensorFlow).")
flags.DEFINE_integer("iters", 10, "Timed runs per model.")
flags.DEFINE_integer("warmup", 2, "Untimed runs per model.")
flags.DEFINE_list("sizes", ["513", "257"], "TFLite input sizes (square).")
flags.DEFINE_boolean("xception", True, "Also time xception_65 SavedModel "
                     "vs Keras at 513x513.")
flags.DEFINE_string("out", "/tmp/bench_export", "Where models and "
                    "results.json go.")


def _timed(fn, iters, warmup):
  for _ in range(warmup):
    fn()
  times = []
  for _ in range(iters):
    start = time.perf_counter()
    fn()
    times.append(1000.0 * (time.perf_counter() - start))
  times.sort()
  return {"median_ms": statistics.median(times),
          "p10_ms": times[len(times) // 10],
          "p90_ms": times[min(len(times) - 1, (9 * len(times)) // 10)]}


def bench_tflite(results):
  import numpy as np  # pylint: disable=g-import-not-at-top
  from deeplab_tf.config import ModelOptions  # pylint: disable=g-import-not-at-top
  from deeplab_tf.export import lib as export_lib  # pylint: disable=g-import-not-at-top
  from deeplab_tf.export import tflite as tflite_lib  # pylint: disable=g-import-not-at-top
  from deeplab_tf.model import build_model  # pylint: disable=g-import-not-at-top
  for size in (int(s) for s in FLAGS.sizes):
    opts = ModelOptions(model_variant="mobilenet_v2", atrous_rates=None,
                        decoder_output_stride=None)
    model = build_model(opts, upsample_logits=False)
    calibration = [s["image"][None].astype(np.float32) for s in
                   export_lib.synthetic_images(8, (size, size))]
    image = np.full((1, size, size, 3), 127.0, np.float32)
    for variant in ("float32", "int8"):
      spec = tflite_lib.TFLiteSpec(variant, (size, size), "uint8", "labels")
      data = tflite_lib.convert(
          model, spec, lambda c=calibration: [
              np.pad(x, ((0, 0), (0, size - x.shape[1]),
                         (0, size - x.shape[2]), (0, 0)),
                     constant_values=127.5) for x in c])
      path = os.path.join(FLAGS.out, spec.filename)
      with open(path, "wb") as f:
        f.write(data)
      runner = tflite_lib.TFLiteRunner(data, num_threads=FLAGS.threads)
      row = _timed(lambda r=runner: r(image), FLAGS.iters, FLAGS.warmup)
      row.update(model="mobilenet_v2", size=size, variant=variant,
                 bytes=len(data))
      results.append(row)
      print(json.dumps(row), flush=True)


def bench_xception(results):
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from deeplab_tf.config import ModelOptions  # pylint: disable=g-import-not-at-top
  from deeplab_tf.export import saved_model as saved_model_lib  # pylint: disable=g-import-not-at-top
  from deeplab_tf.export import serving  # pylint: disable=g-import-not-at-top
  from deeplab_tf.model import build_model  # pylint: disable=g-import-not-at-top
  opts = ModelOptions()  # xception_65, OS16, decoder, 513x513
  native = build_model(opts, upsample_logits=False)
  full = build_model(opts)
  full.set_weights(native.get_weights())
  module = serving.DeepLabServingModule(
      native, crop_size=(513, 513), mean_pixel=opts.mean_pixel,
      num_classes=opts.num_classes)
  path = saved_model_lib.write_saved_model(
      module, os.path.join(FLAGS.out, "xception_65"), 1, overwrite=True)
  size = sum(os.path.getsize(os.path.join(d, f))
             for d, _, files in os.walk(path) for f in files)
  serve = tf.saved_model.load(path).signatures["serving_default"]
  image = np.full((1, 513, 513, 3), 127, np.uint8)
  image_f = tf.constant(image, tf.float32)
  cases = {
      "savedmodel_serving_default": lambda: serve(images=tf.constant(image)),
      "keras_call_eager": lambda: full(image_f, training=False),
      "keras_predict_on_batch": lambda: full.predict_on_batch(image_f),
  }
  for name, fn in cases.items():
    row = _timed(fn, max(3, FLAGS.iters // 2), 1)
    row.update(model="xception_65", size=513, variant=name,
               bytes=size if name.startswith("saved") else None)
    results.append(row)
    print(json.dumps(row), flush=True)


def main(argv):
  del argv
  os.makedirs(FLAGS.out, exist_ok=True)
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  tf.config.threading.set_intra_op_parallelism_threads(FLAGS.threads)
  tf.config.threading.set_inter_op_parallelism_threads(FLAGS.threads)
  results = []
  bench_tflite(results)
  if FLAGS.xception:
    bench_xception(results)
  with open(os.path.join(FLAGS.out, "results.json"), "w") as f:
    json.dump({"threads": FLAGS.threads, "cpus": os.cpu_count(),
               "results": results}, f, indent=2)
  print("%-12s %-5s %-28s %10s %10s %10s %9s" % (
      "model", "size", "variant", "median_ms", "p10_ms", "p90_ms", "MB"))
  for r in results:
    print("%-12s %-5d %-28s %10.1f %10.1f %10.1f %9s" % (
        r["model"], r["size"], r["variant"], r["median_ms"], r["p10_ms"],
        r["p90_ms"], "%.2f" % (r["bytes"] / 1e6) if r["bytes"] else "-"))


if __name__ == "__main__":
  app.run(main)
