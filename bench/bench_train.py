"""Training benchmark: MobileNetV2 DeepLabv3+ from scratch on CamVid for a
fixed wall-clock budget, then val mIoU; plus xception_65 training
throughput at 513x513.

  python bench/bench_train.py --budget_minutes=30 --work_dir=/tmp/bench_train

CamVid (SegNet's 367 train / 101 val, 480x360, 11 classes, void 11) is read
from ../shared/data/camvid and converted to TFRecords with the folder
builder. The step count is set from a short calibration run so the poly
schedule ends when the budget does. Results go to
<work_dir>/bench_train.json.
"""

import argparse
import json
import logging
import os
import shutil
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from deeplab_tf.config import ModelOptions  # noqa: E402
from deeplab_tf.data import get_dataset_descriptor  # noqa: E402
from deeplab_tf.data.data_config import Augmentation, DataConfig  # noqa: E402
from deeplab_tf.run_config import RunConfig  # noqa: E402
from deeplab_tf.training.config import TrainConfig  # noqa: E402


def camvid_records(camvid_dir: str, out_dir: str) -> str:
  from deeplab_tf.training.defaults import has_split
  if has_split(out_dir, "train") and has_split(out_dir, "val"):
    return out_dir
  from deeplab_tf.data.builders import build_folder
  build_folder(camvid_dir, out_dir, "camvid",
               split_lists={"train": "train.txt", "val": "val.txt"},
               num_shards=4, num_workers=1, verbose=False)
  return out_dir


def camvid_config(args, data_dir, logdir, steps) -> RunConfig:
  d = get_dataset_descriptor("camvid")
  crop = (args.crop, args.crop)
  if getattr(args, "model_variant", "mobilenet_v2") == "xception_65":
    # The paper's model: ASPP 6/12/18 and the decoder at stride 4.
    model = ModelOptions(model_variant="xception_65",
                         num_classes=d.num_classes)
  else:
    model = ModelOptions(model_variant="mobilenet_v2",
                         num_classes=d.num_classes, atrous_rates=None,
                         decoder_output_stride=4,
                         depth_multiplier=args.depth_multiplier)
  data = DataConfig(descriptor=d, dataset_dir=data_dir, crop_size=crop,
                    augmentation=Augmentation(min_scale_factor=0.5,
                                              max_scale_factor=1.5))
  return RunConfig(model=model, data=data, train=TrainConfig(
      train_batch_size=args.batch_size, base_learning_rate=args.learning_rate,
      training_number_of_steps=steps, batch_norm_decay=0.99,
      train_logdir=logdir, save_interval_secs=300, save_summaries_secs=300,
      log_steps=50, seed=0))


def xception_throughput(batch_size: int, steps: int) -> dict:
  """Training images/s of xception_65 (paper config) at 513x513."""
  import tensorflow as tf
  from deeplab_tf.training.loop import Trainer
  from deeplab_tf.training.strategy import make_strategy
  config = RunConfig(
      model=ModelOptions(model_variant="xception_65", num_classes=21),
      data=DataConfig(descriptor=get_dataset_descriptor("pascal_voc_seg")),
      train=TrainConfig(train_batch_size=batch_size,
                        train_logdir="/tmp/unused"))
  trainer = Trainer(config, make_strategy("one_device"))
  rng = np.random.RandomState(0)
  batch = {"image": rng.uniform(0, 255, (batch_size, 513, 513, 3)).astype(
      np.float32), "label": rng.randint(0, 21, (batch_size, 513, 513)).astype(
          np.int32)}
  it = iter(trainer.distribute(
      lambda ctx: tf.data.Dataset.from_tensors(batch).repeat()))
  trainer.train_step(next(it))["loss"].numpy()  # compile
  times = []
  for _ in range(steps):
    start = time.time()
    trainer.train_step(next(it))["loss"].numpy()
    times.append(time.time() - start)
  secs = float(np.median(times))
  return {"batch_size": batch_size, "median_seconds_per_step": secs,
          "images_per_sec": batch_size / secs, "steps_timed": steps,
          "seconds_per_step_all": [round(t, 3) for t in times]}


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--camvid_dir", default=os.path.join(
      os.path.dirname(__file__), "..", "..", "shared", "data", "camvid"))
  parser.add_argument("--work_dir", default="/tmp/bench_train")
  parser.add_argument("--budget_minutes", type=float, default=30.0)
  parser.add_argument("--crop", type=int, default=257)
  parser.add_argument("--batch_size", type=int, default=8)
  parser.add_argument("--depth_multiplier", type=float, default=0.5)
  parser.add_argument("--learning_rate", type=float, default=0.05)
  parser.add_argument("--calibration_steps", type=int, default=20)
  parser.add_argument("--xception_batch_size", type=int, default=2)
  parser.add_argument("--xception_steps", type=int, default=5)
  parser.add_argument("--skip_camvid", action="store_true")
  args = parser.parse_args()
  logging.getLogger().setLevel(logging.INFO)
  import tensorflow as tf
  from deeplab_tf.evaluation import evaluator
  from deeplab_tf.evaluation.resolve import eval_run_from_checkpoint
  from deeplab_tf.training import loop
  os.makedirs(args.work_dir, exist_ok=True)
  report = {"device": "CPU (%d cores visible)" % os.cpu_count(),
            "tensorflow": tf.__version__}
  if not args.skip_camvid:
    data_dir = camvid_records(args.camvid_dir,
                              os.path.join(args.work_dir, "camvid_tfrecord"))
    calib_dir = os.path.join(args.work_dir, "calibration")
    shutil.rmtree(calib_dir, ignore_errors=True)  # never resume it
    calib = loop.train(camvid_config(args, data_dir, calib_dir,
                                     args.calibration_steps))
    steps = max(int(args.budget_minutes * 60 * calib.steps_per_sec * 0.97),
                10)
    logging.info("calibration: %.3f steps/s -> %d steps in %.0f minutes",
                 calib.steps_per_sec, steps, args.budget_minutes)
    logdir = os.path.join(args.work_dir, "camvid_run_%d" % int(time.time()))
    result = loop.train(camvid_config(args, data_dir, logdir, steps))
    metrics = evaluator.run(eval_run_from_checkpoint(
        logdir, os.path.join(logdir, "eval")))
    report["camvid"] = {
        "model": "mobilenet_v2 dm %g, OS16, decoder 4, no ASPP rates"
                 % args.depth_multiplier,
        "crop": args.crop, "batch_size": args.batch_size, "steps": result.step,
        "train_seconds": round(result.elapsed_secs, 1),
        "steps_per_sec": round(result.steps_per_sec, 3),
        "images_per_sec": round(result.images_per_sec, 2),
        "val_miou": round(metrics["miou"], 4),
        "val_pixel_accuracy": round(metrics["pixel_accuracy"], 4),
        "per_class_iou": {c["name"]: c["iou"] for c in metrics["per_class"]},
        "eval": "full 480x360 val labels, OS16, single scale"}
  report["xception_65_513"] = xception_throughput(args.xception_batch_size,
                                                  args.xception_steps)
  path = os.path.join(args.work_dir, "bench_train.json")
  with open(path, "w") as f:
    json.dump(report, f, indent=2)
  print(json.dumps(report, indent=2))


if __name__ == "__main__":
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  main()
