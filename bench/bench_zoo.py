"""Cold vs cached `zoo.load_model` against a local mirror (127.0.0.1 only).

Cold: an empty cache, so the call downloads the tarball over HTTP, extracts
it, loads it strictly into the registry's model, writes and publishes the run
directory, then builds the model and restores it. Cached: the same call with
the cache filled (build + restore only). The mirror serves tarballs laid out
like the authors', made with ../shared/reference/make_tf1_checkpoint.py:
the golden MobileNetV2 checkpoint and a full-size Xception-65 one (the
reference variable list). Reports medians over `--repeats` and the ratio.

    python bench/bench_zoo.py
    python bench/bench_zoo.py --models=mobilenetv2_coco_voc_trainaug --repeats=5
"""

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["no_proxy"] = "127.0.0.1"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import keras  # noqa: E402

from deeplab_tf import zoo  # noqa: E402
from tests.helpers import REFERENCE  # noqa: E402
from tests.helpers import reference_maker  # noqa: E402
from tests.zoo_server import (ZooServer, make_golden_tarball,  # noqa: E402
                              make_tarball)

MODELS = ("mobilenetv2_coco_voc_trainaug", "xception65_coco_voc_trainaug")


def make_mirror(directory, names):
  for name in names:
    e = zoo.entry(name)
    if name == "mobilenetv2_coco_voc_trainaug":
      make_golden_tarball(directory, e.tarball)
    elif name == "xception65_coco_voc_trainaug":
      work = os.path.join(directory, ".xception")
      os.makedirs(work)
      reference_maker().make_checkpoint(
          str(REFERENCE / "variables" / "xception_65_os16_dec4_sc.json"),
          os.path.join(work, "model.ckpt"), 1)
      make_tarball(os.path.join(directory, e.tarball),
                   "deeplabv3_pascal_train_aug",
                   os.path.join(work, "model.ckpt"))
      shutil.rmtree(work)
    else:
      raise SystemExit("no mirror tarball recipe for %s" % name)


def timed_load(name, cache):
  keras.backend.clear_session()
  start = time.perf_counter()
  model = zoo.load_model(name, cache_dir=cache)
  elapsed = time.perf_counter() - start
  del model
  return elapsed


def main():
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--models", default=",".join(MODELS))
  p.add_argument("--repeats", type=int, default=3)
  args = p.parse_args()
  names = args.models.split(",")
  work = tempfile.mkdtemp(prefix="bench_zoo_")
  results = {}
  try:
    mirror = os.path.join(work, "mirror")
    os.makedirs(mirror)
    make_mirror(mirror, names)
    with ZooServer(mirror) as server:
      os.environ["DEEPLAB_TF_ZOO_URL"] = server.url
      for name in names:
        size = os.path.getsize(os.path.join(mirror, zoo.entry(name).tarball))
        cold, cached = [], []
        for i in range(args.repeats):
          cache = os.path.join(work, "cache_%s_%d" % (name, i))
          cold.append(timed_load(name, cache))
          cached.append(timed_load(name, cache))
          shutil.rmtree(cache)
        results[name] = {
            "tarball_mb": round(size / 2**20, 1),
            "cold_s": [round(t, 2) for t in cold],
            "cached_s": [round(t, 2) for t in cached],
            "cold_median_s": round(statistics.median(cold), 2),
            "cached_median_s": round(statistics.median(cached), 2),
            "cold_over_cached": round(statistics.median(cold)
                                      / statistics.median(cached), 2)}
        print(name, json.dumps(results[name]), flush=True)
  finally:
    shutil.rmtree(work, ignore_errors=True)
  print(json.dumps({"machine": platform.processor() or platform.machine(),
                    "cpus": os.cpu_count(), "results": results}, indent=1))


if __name__ == "__main__":
  main()
