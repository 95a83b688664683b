r"""Deployment benchmark: serving-graph latency, ONNX Runtime, sliding-window
memory and mIoU (CPU, fixed thread count, one run, medians).

  python bench/bench_deploy.py --threads=2 --repeats=5 --work_dir=/tmp/bench_deploy

* latency at 513x513 (uint8 in, labels out; padding, softmax, argmax inside),
  interleaved per repeat: the Keras model's serving computation in a
  `tf.function` vs the exported SavedModel `serving_default` with and
  without BatchNorm folding, for xception_65 (paper config), resnet_v1_101_beta
  (reference config) and mobilenet_v2 (model-zoo config); ONNX Runtime vs the
  folded SavedModel for mobilenet_v2 and xception_65. Random weights with
  random BatchNorm statistics (latency does not depend on the values);
* peak memory (ru_maxrss of a fresh subprocess each) of whole-image vs
  sliding-window (513 window) inference on a 4096x4096 image with
  mobilenet_v2, minus the same process's baseline at 513x513;
* mIoU whole vs sliding on the real CamVid val frames (480x360, 101) and
  the Cityscapes frame, with a MobileNetV2 trained here on CamVid for
  `--train_steps` (batch 8, 257 crops) (or `--camvid_run`, a train_logdir of bench_train.py).

Results go to <work_dir>/bench_deploy.json and a table on stdout.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SHARED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                      "shared", "data")
MODELS = {
    "xception_65": dict(model_variant="xception_65"),
    "resnet_v1_101_beta": dict(
        model_variant="resnet_v1_101_beta", multi_grid=(1, 2, 4),
        aspp_with_separable_conv=False, decoder_use_separable_conv=False),
    "mobilenet_v2": dict(model_variant="mobilenet_v2", atrous_rates=None,
                         decoder_output_stride=None),
}
ONNX_MODELS = ("mobilenet_v2", "xception_65")


def _median(times):
  return round(1000.0 * statistics.median(times), 1)


def latency(args, report):
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from deeplab_tf.config import ModelOptions  # pylint: disable=g-import-not-at-top
  from deeplab_tf.export import optimize, saved_model, serving  # pylint: disable=g-import-not-at-top
  from deeplab_tf.model import build_model  # pylint: disable=g-import-not-at-top
  from tests.helpers import random_bn_statistics  # pylint: disable=g-import-not-at-top
  image = tf.constant(np.random.default_rng(0).integers(
      0, 256, (1, 513, 513, 3), np.uint8))
  cases = {}
  for name in args.models:
    opts = ModelOptions(**MODELS[name])
    model = build_model(opts, upsample_logits=False)
    random_bn_statistics(model)

    def module(m, opts=opts):
      return serving.DeepLabServingModule(
          m, crop_size=(513, 513), mean_pixel=opts.mean_pixel,
          num_classes=opts.num_classes)
    plain = module(model)
    cases[(name, "keras_tf_function")] = plain.serve_images
    for fold in (False, True):
      path = saved_model.write_saved_model(
          module(optimize.serving_model(opts, model, fold=fold)),
          os.path.join(args.work_dir, "%s_fold%d" % (name, fold)), 1,
          overwrite=True)
      cases[(name, "saved_model_folded" if fold else "saved_model")] = (
          tf.saved_model.load(path).signatures["serving_default"])
    if name in ONNX_MODELS and args.onnx:
      from deeplab_tf.export import onnx as onnx_lib  # pylint: disable=g-import-not-at-top
      start = time.time()
      data = onnx_lib.convert(module(optimize.serving_model(opts, model)))
      report.setdefault("onnx_convert_seconds", {})[name] = round(
          time.time() - start, 1)
      runner = onnx_lib.OnnxRunner(data, num_threads=args.threads)
      cases[(name, "onnxruntime_folded")] = (
          lambda images, r=runner: r(images.numpy()))
    print("built %s" % name, flush=True)
  times = {key: [] for key in cases}
  for key, fn in cases.items():  # warm-up (tracing, first-run allocation)
    fn(images=image) if "saved_model" in key[1] else fn(image)
  for _ in range(args.repeats):  # interleaved
    for key, fn in cases.items():
      start = time.perf_counter()
      out = fn(images=image) if "saved_model" in key[1] else fn(image)
      if isinstance(out, dict):
        _ = [np.asarray(v) for v in out.values()]
      times[key].append(time.perf_counter() - start)
  rows = []
  for (name, variant), t in times.items():
    rows.append({"model": name, "variant": variant, "median_ms": _median(t),
                 "min_ms": round(1000 * min(t), 1), "runs": len(t)})
  report["latency_513"] = rows


MEMORY_CHILD = r"""
import resource, sys, time
import numpy as np, tensorflow as tf
sys.path.insert(0, sys.argv[1])
tf.config.threading.set_intra_op_parallelism_threads(int(sys.argv[5]))
from deeplab_tf import inference, sliding_window as sw
from deeplab_tf.config import ModelOptions
from deeplab_tf.model import build_model
opts = ModelOptions(model_variant="mobilenet_v2", atrous_rates=None,
                    decoder_output_stride=None)
model = build_model(opts, upsample_logits=False)
mode, size, batch = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
image = tf.constant(np.random.default_rng(0).integers(
    0, 256, (1, size, size, 3), np.uint8))
window = sw.SlidingWindow((513, 513), (342, 342), batch_size=batch)
def whole(x):
  return inference.predict_labels(model, x, crop_size=(513, 513),
                                  mean_pixel=opts.mean_pixel)
def sliding(x):
  return sw.predict_sliding(model, x, window=window,
                            mean_pixel=opts.mean_pixel,
                            num_classes=opts.num_classes)
fn = tf.function(whole if mode == "whole" else sliding)
start = time.time()
labels = fn(image).numpy()
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.time() - start,
      labels.shape)
"""


def memory(args, report):
  """Peak RSS (MB) of whole vs sliding on a size x size image."""
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  rows = []
  for mode, size, batch in (("whole", 513, 1), ("sliding", args.memory_size, 1),
                            ("sliding", args.memory_size, 4),
                            ("whole", args.memory_size, 1)):
    out = subprocess.run(
        [sys.executable, "-c", MEMORY_CHILD, root, mode, str(size),
         str(batch), str(args.threads)], capture_output=True, text=True,
        timeout=3600)
    if out.returncode != 0:
      rows.append({"mode": mode, "size": size, "window_batch": batch,
                   "error": out.stderr.strip().splitlines()[-1][:300]})
      continue
    rss_kb, seconds, _ = out.stdout.strip().splitlines()[-1].split(" ", 2)
    rows.append({"mode": mode, "size": size, "window_batch": batch,
                 "peak_rss_mb": round(int(rss_kb) / 1024.0, 1),
                 "seconds": round(float(seconds), 1)})
    print(json.dumps(rows[-1]), flush=True)
  report["memory_mobilenet_v2"] = rows


def train_camvid(args) -> str:
  """A MobileNetV2 DeepLabv3+ (dm 0.5) trained on CamVid from scratch."""
  import bench_train  # pylint: disable=g-import-not-at-top
  from deeplab_tf.training import loop  # pylint: disable=g-import-not-at-top
  records = bench_train.camvid_records(
      os.path.join(SHARED, "camvid"), os.path.join(args.work_dir, "camvid"))
  train_args = argparse.Namespace(crop=257, batch_size=8,
                                  depth_multiplier=0.5, learning_rate=0.05)
  logdir = os.path.join(args.work_dir, "camvid_run_%d" % args.train_steps)
  loop.train(bench_train.camvid_config(train_args, records, logdir,
                                       args.train_steps))
  return logdir


def miou(args, report):
  """mIoU whole vs sliding (window = the 257 training crop) on CamVid val."""
  from deeplab_tf.evaluation import evaluator  # pylint: disable=g-import-not-at-top
  from deeplab_tf.evaluation.resolve import eval_run_from_checkpoint  # pylint: disable=g-import-not-at-top
  run = args.camvid_run or train_camvid(args)
  rows = []
  for mode, window, stride, weighting in (
      ("whole", None, None, "uniform"),
      ("sliding", (257, 257), (171, 171), "uniform"),
      ("sliding", (257, 257), (171, 171), "gaussian"),
      ("sliding", (257, 257), (257, 257), "uniform")):
    name = "%s_%s_%s" % (mode, stride[0] if stride else "", weighting)
    config = eval_run_from_checkpoint(
        run, os.path.join(args.work_dir, "eval_" + name),
        sliding=None if mode == "whole" else {
            "window_size": window, "window_stride": stride,
            "weighting": weighting})
    result = evaluator.run(config)
    rows.append({"mode": mode, "window": window, "stride": stride,
                 "weighting": weighting, "miou": round(result["miou"], 4),
                 "pixel_accuracy": round(result["pixel_accuracy"], 4),
                 "images": result["num_images"],
                 "seconds": result["seconds"]})
    print(json.dumps(rows[-1]), flush=True)
  report["miou_camvid_val"] = {"run": run, "rows": rows}


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--work_dir", default="/tmp/bench_deploy")
  parser.add_argument("--threads", type=int, default=2)
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument("--models", nargs="+", default=list(MODELS))
  parser.add_argument("--no_onnx", dest="onnx", action="store_false")
  parser.add_argument("--memory_size", type=int, default=4096)
  parser.add_argument("--camvid_run", default=None)
  parser.add_argument("--train_steps", type=int, default=300)
  parser.add_argument("--only", nargs="+",
                      default=["latency", "memory", "miou"],
                      choices=["latency", "memory", "miou", "train"])
  args = parser.parse_args()
  os.makedirs(args.work_dir, exist_ok=True)
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  tf.config.threading.set_intra_op_parallelism_threads(args.threads)
  tf.config.threading.set_inter_op_parallelism_threads(args.threads)
  report = {"threads": args.threads, "cpus": os.cpu_count(),
            "tensorflow": tf.__version__, "repeats": args.repeats}
  if "train" in args.only:
    print("trained:", train_camvid(args))
    return
  path = os.path.join(args.work_dir, "bench_deploy.json")
  for section in ("miou", "memory", "latency"):
    if section in args.only:
      start = time.time()
      try:
        globals()[section](args, report)
      except Exception as e:  # pylint: disable=broad-except
        report[section + "_error"] = "%s: %s" % (type(e).__name__, e)
        print(report[section + "_error"], flush=True)
      report.setdefault("section_seconds", {})[section] = round(
          time.time() - start)
      with open(path, "w") as f:  # after each section: nothing is lost
        json.dump(report, f, indent=2)
  for row in report.get("latency_513", []):
    print("%-20s %-22s %9.1f ms (min %.1f, %d runs)" % (
        row["model"], row["variant"], row["median_ms"], row["min_ms"],
        row["runs"]))
  print(json.dumps({k: v for k, v in report.items() if k != "latency_513"},
                   indent=2))


if __name__ == "__main__":
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  main()
