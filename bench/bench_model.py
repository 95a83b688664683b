"""Inference throughput of the paper's models, with and without XLA.

For each model: build it at a static input size, run `--warmup` untimed
calls (tracing, XLA compilation, allocator warm-up), then `--repeats` timed
calls, each a full forward pass of one batch ending in a host copy of the
logits (so asynchronous devices are timed to completion). Reports the median
time, images/s and the achieved GFLOP/s = 2 x conv Multiply-Adds (at true
output sizes, `deeplab_tf.complexity`) / time.

    python bench/bench_model.py                     # all models, XLA off / on
    python bench/bench_model.py --models=mobilenet_v2 --xla=off --repeats=3
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from deeplab_tf import ModelOptions, build_model  # noqa: E402
from deeplab_tf import complexity  # noqa: E402

# The three configurations of the reference README.
MODELS = {
    "xception_65": ModelOptions(),  # OS16, decoder, separable ASPP+decoder
    "resnet_v1_101_beta": ModelOptions(
        model_variant="resnet_v1_101_beta", aspp_with_separable_conv=False,
        decoder_use_separable_conv=False),
    "mobilenet_v2": ModelOptions(model_variant="mobilenet_v2",
                                 atrous_rates=None,
                                 decoder_output_stride=None),
}


def bench_one(opts: ModelOptions, size: int, batch: int, xla: bool,
              warmup: int, repeats: int) -> dict:
  """Times one model; returns a dict of the measurements."""
  model = build_model(opts, upsample_logits=True, input_shape=(size, size, 3))
  conv_macs = complexity.count_model(model).conv_macs

  @tf.function(jit_compile=xla, reduce_retracing=True)
  def forward(x):
    return model(x, training=False)

  images = tf.constant(np.random.RandomState(0).uniform(
      0, 255, (batch, size, size, 3)).astype(np.float32))
  start = time.perf_counter()
  for _ in range(max(warmup, 1)):
    forward(images).numpy()
  warmup_s = time.perf_counter() - start
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    forward(images).numpy()
    times.append(time.perf_counter() - start)
  median = statistics.median(times)
  return {"model": opts.model_variant, "xla": xla, "size": size,
          "batch": batch, "warmup_s": warmup_s, "times_s": times,
          "median_s": median, "images_per_s": batch / median,
          "conv_gmacs_per_image": conv_macs / 1e9,
          "gflops_per_s": 2 * conv_macs * batch / median / 1e9}


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--models", default=",".join(MODELS),
                 help="comma-separated subset of %s" % ", ".join(MODELS))
  p.add_argument("--size", type=int, default=513)
  p.add_argument("--batch", type=int, default=1)
  p.add_argument("--warmup", type=int, default=2)
  p.add_argument("--repeats", type=int, default=5)
  p.add_argument("--xla", choices=("off", "on", "both"), default="both")
  p.add_argument("--json", help="also write the results to this file")
  args = p.parse_args(argv)
  names = args.models.split(",")
  unknown = sorted(set(names) - set(MODELS))
  if unknown:
    p.error("unknown models %s; choose from %s" % (unknown, list(MODELS)))
  modes = {"off": [False], "on": [True], "both": [False, True]}[args.xla]
  gpus = tf.config.list_physical_devices("GPU")
  device = (tf.config.experimental.get_device_details(gpus[0]).get(
      "device_name", "GPU") if gpus else
            "CPU %s, %d cores" % (platform.processor() or platform.machine(),
                                  os.cpu_count()))
  print("TensorFlow %s on %s; %dx%d, batch %d, median of %d after %d "
        "warm-up" % (tf.__version__, device, args.size, args.size,
                     args.batch, args.repeats, args.warmup))
  print("%-20s %-4s %10s %10s %12s %10s %10s" % (
      "model", "XLA", "conv GMAC", "median s", "images/s", "GFLOP/s",
      "warm-up s"))
  results = []
  for name in names:
    for xla in modes:
      keras.backend.clear_session()
      r = bench_one(MODELS[name], args.size, args.batch, xla, args.warmup,
                    args.repeats)
      r["device"] = device
      results.append(r)
      print("%-20s %-4s %10.3f %10.4f %12.3f %10.1f %10.1f" % (
          name, "on" if xla else "off", r["conv_gmacs_per_image"],
          r["median_s"], r["images_per_s"], r["gflops_per_s"],
          r["warmup_s"]), flush=True)
  if args.json:
    with open(args.json, "w") as f:
      json.dump(results, f, indent=2)
  return 0


if __name__ == "__main__":
  sys.exit(main())
