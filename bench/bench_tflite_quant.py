r"""TFLite full-int8 vs float32 for the paper's Xception-65 DeepLabv3+:
mIoU change and latency on the real CamVid val frames (CPU, one run).

  python bench/bench_tflite_quant.py --train_steps=300 --work_dir=/tmp/bench_quant

Quantisation error depends on real weights and real BatchNorm statistics,
so the model is trained here: Xception-65 (OS16, ASPP 6/12/18, decoder at
stride 4, separable ASPP and decoder), from scratch on the CamVid train
frames (`--crop` crops, batch `--batch_size`, `--train_steps` steps; no
ImageNet weights can be downloaded here). Then, through the CLIs users run:

  export.py --checkpoint_dir=<run> --tflite --tflite_variants=float32,int8 \
      --tflite_input_size=361,481 --dataset_dir=<records>

(int8 calibrated on `--num_representative` train frames), and every val
frame (480x360, `--val_frames` of 101) goes through
`TFLiteSegmenter.labels(frame, mode='pad')` for both files. Reported: mIoU
and pixel accuracy of each against the real labels (11 classes, 11 = void),
the int8 - float32 change, label agreement between the two, file sizes and
the median latency per frame. Results: <work_dir>/bench_tflite_quant.json.

`--only sliding`: the Keras model on the same frames, whole image vs
sliding windows of the training crop (1/3 overlap, uniform and Gaussian
weights): mIoU and label agreement with whole-image inference
(<work_dir>/bench_sliding.json), and the agreement on the Cityscapes frame
scaled back to Cityscapes' 1024x2048 (its labels are Cityscapes classes, so
no mIoU there).
"""

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))
SHARED = os.path.join(ROOT, "..", "shared", "data")


def val_frames(camvid_dir, count):
  from PIL import Image  # pylint: disable=g-import-not-at-top
  with open(os.path.join(camvid_dir, "val.txt")) as f:
    pairs = [line.split() for line in f if line.strip()][:count]
  for image, label in pairs:
    # SegNet's lists name /SegNet/CamVid/val/x.png: keep the last 2 parts.
    image = os.path.join(camvid_dir, *image.split("/")[-2:])
    label = os.path.join(camvid_dir, *label.split("/")[-2:])
    yield (np.asarray(Image.open(image).convert("RGB")),
           np.asarray(Image.open(label)))


def score(tflite_path, frames, threads):
  from deeplab_tf.evaluation import metrics  # pylint: disable=g-import-not-at-top
  from deeplab_tf.export.tflite_runner import TFLiteSegmenter  # pylint: disable=g-import-not-at-top
  seg = TFLiteSegmenter(tflite_path, num_threads=threads)
  cm = np.zeros((11, 11), np.int64)
  times, predictions = [], []
  for frame, label in frames:
    start = time.perf_counter()
    pred = seg.labels(frame, mode="pad")
    times.append(time.perf_counter() - start)
    cm += metrics.confusion_matrix_np(label, pred, 11, 11)
    predictions.append(pred)
  result = metrics.metrics_from_confusion(cm)
  return {"miou": round(result["miou"], 4),
          "pixel_accuracy": round(result["pixel_accuracy"], 4),
          "median_ms_per_frame": round(1000 * statistics.median(times[1:]), 1),
          "bytes": os.path.getsize(tflite_path)}, predictions


def cityscapes_frame():
  """The Cityscapes frame back at Cityscapes' own 1024x2048 (bilinear)."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  path = os.path.join(SHARED, "cityscapes", "leftImg8bit", "val", "frankfurt",
                      "frankfurt_000000_000294_leftImg8bit.png")
  image = Image.open(path).convert("RGB").resize((2048, 1024),
                                                 Image.BILINEAR)
  return np.asarray(image)


def sliding_vs_whole(run, frames, window):
  """mIoU of the Keras model on the frames: whole image vs sliding windows
  of the training crop (uniform and Gaussian weights, 1/3 overlap)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from deeplab_tf import inference, run_config  # pylint: disable=g-import-not-at-top
  from deeplab_tf import sliding_window as sw  # pylint: disable=g-import-not-at-top
  from deeplab_tf.evaluation import metrics  # pylint: disable=g-import-not-at-top
  from deeplab_tf.model import build_model  # pylint: disable=g-import-not-at-top
  saved = run_config.load_run_config(run)
  opts, crop = saved.model, saved.data.crop_size
  model = build_model(opts, upsample_logits=False)
  run_config.restore_model(model, run)
  window = window or crop
  modes = {
      "whole": tf.function(lambda x: inference.predict_labels(
          model, x, crop_size=crop, mean_pixel=opts.mean_pixel)),
  }
  for weighting in sw.WEIGHTINGS:
    settings = sw.SlidingWindow(window, None, weighting=weighting)
    modes["sliding_%s" % weighting] = tf.function(
        lambda x, s=settings: sw.predict_sliding(
            model, x, window=s, mean_pixel=opts.mean_pixel,
            num_classes=opts.num_classes))
  cms = {name: np.zeros((11, 11), np.int64) for name in modes}
  agree = {name: [] for name in modes}
  for frame, label in frames:
    x = tf.constant(frame[np.newaxis])
    whole = None
    for name, fn in modes.items():
      pred = fn(x).numpy()[0]
      cms[name] += metrics.confusion_matrix_np(label, pred, 11, 11)
      whole = pred if whole is None else whole
      agree[name].append(float(np.mean(pred == whole)))
  stride = sw.SlidingWindow(window).window_stride
  big = tf.constant(cityscapes_frame()[np.newaxis])
  whole_big = modes["whole"](big).numpy()
  cityscapes = {name: round(float(np.mean(fn(big).numpy() == whole_big)), 4)
                for name, fn in modes.items() if name != "whole"}
  logging.info("cityscapes 1024x2048 agreement with whole: %s", cityscapes)
  return {"cityscapes_1024x2048_label_agreement_with_whole": cityscapes,
          **{name: {"miou": round(metrics.metrics_from_confusion(cm)["miou"], 4),
                 "label_agreement_with_whole": round(
                     float(np.mean(agree[name])), 4),
                 "window": list(window) if name != "whole" else None,
                 "stride": list(stride) if name != "whole" else None}
             for name, cm in cms.items()}}


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--work_dir", default="/tmp/bench_quant")
  parser.add_argument("--camvid_dir", default=os.path.join(SHARED, "camvid"))
  parser.add_argument("--train_steps", type=int, default=300)
  parser.add_argument("--crop", type=int, default=321)
  parser.add_argument("--batch_size", type=int, default=4)
  parser.add_argument("--learning_rate", type=float, default=0.02)
  parser.add_argument("--num_representative", type=int, default=32)
  parser.add_argument("--val_frames", type=int, default=101)
  parser.add_argument("--threads", type=int, default=2)
  parser.add_argument("--train_logdir", default=None,
                      help="The run (default <work_dir>/xception_camvid_"
                      "<train_steps>); trained on to --train_steps.")
  parser.add_argument("--only", nargs="+", default=["quant", "sliding"],
                      choices=["quant", "sliding"])
  args = parser.parse_args()
  logging.getLogger().setLevel(logging.INFO)
  os.makedirs(args.work_dir, exist_ok=True)
  import bench_train  # pylint: disable=g-import-not-at-top
  records = bench_train.camvid_records(
      args.camvid_dir, os.path.join(args.work_dir, "camvid_tfrecord"))
  logdir = args.train_logdir or os.path.join(
      args.work_dir, "xception_camvid_%d" % args.train_steps)
  train_args = argparse.Namespace(
      model_variant="xception_65", crop=args.crop, batch_size=args.batch_size,
      depth_multiplier=1.0, learning_rate=args.learning_rate)
  report = {"threads": args.threads, "cpus": os.cpu_count()}
  path = os.path.join(args.work_dir, "bench_tflite_quant.json")
  if "quant" in args.only:
    quant(args, records, logdir, train_args, report, path)
  if "sliding" in args.only:
    report["sliding_vs_whole_keras"] = sliding_vs_whole(
        logdir, val_frames(args.camvid_dir, args.val_frames), None)
    with open(os.path.join(args.work_dir, "bench_sliding.json"), "w") as f:
      json.dump(report["sliding_vs_whole_keras"], f, indent=2)
    print(json.dumps(report["sliding_vs_whole_keras"], indent=2))


def quant(args, records, logdir, train_args, report, path):
  """Trains (or resumes), evaluates, exports and scores both TFLite files."""
  from deeplab_tf.training import loop  # pylint: disable=g-import-not-at-top
  import bench_train  # pylint: disable=g-import-not-at-top
  start = time.time()
  result = loop.train(bench_train.camvid_config(train_args, records, logdir,
                                                args.train_steps))
  report["train"] = {"model": "xception_65 OS16 ASPP 6/12/18 decoder 4",
                     "steps": result.step, "crop": args.crop,
                     "batch_size": args.batch_size,
                     "seconds": round(time.time() - start)}
  with open(path, "w") as f:
    json.dump(report, f, indent=2)
  export_dir = os.path.join(args.work_dir, "export")
  cmd = [sys.executable, os.path.join(ROOT, "export.py"),
         "--checkpoint_dir=" + logdir, "--export_dir=" + export_dir,
         "--tflite", "--tflite_variants=float32,int8",
         "--tflite_input_size=361,481", "--dataset_dir=" + records,
         "--num_representative=%d" % args.num_representative, "--overwrite"]
  start = time.time()
  subprocess.run(cmd, check=True)
  report["export_seconds"] = round(time.time() - start)
  tflite = {}
  for dirpath, _, files in os.walk(export_dir):
    for name in files:
      if name.endswith("_361x481.tflite"):
        tflite[name.split("_")[1]] = os.path.join(dirpath, name)
  rows, preds = {}, {}
  for variant in ("float32", "int8"):
    rows[variant], preds[variant] = score(
        tflite[variant], val_frames(args.camvid_dir, args.val_frames),
        args.threads)
    print(variant, json.dumps(rows[variant]), flush=True)
  agree = np.mean([np.mean(a == b) for a, b in zip(preds["float32"],
                                                   preds["int8"])])
  report["tflite_361x481"] = rows
  report["int8_minus_float32_miou"] = round(
      rows["int8"]["miou"] - rows["float32"]["miou"], 4)
  report["int8_float32_label_agreement"] = round(float(agree), 4)
  report["int8_speedup"] = round(rows["float32"]["median_ms_per_frame"]
                                 / rows["int8"]["median_ms_per_frame"], 2)
  report["val_frames"] = len(preds["int8"])
  with open(path, "w") as f:
    json.dump(report, f, indent=2)
  print(json.dumps(report, indent=2))


if __name__ == "__main__":
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  main()
