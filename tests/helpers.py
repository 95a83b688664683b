"""Plain helpers shared by the test modules (no tests, no fixtures here: the
shared fixtures are in conftest.py). Test modules import from this module,
never from each other or from conftest.py."""

import contextlib
import importlib.util
import io
import pathlib
import subprocess
import sys

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
REFERENCE = SHARED / "reference"
DATA = SHARED / "data"

# The authors' MobileNetV2 (OS 16, no atrous branches, no decoder) whose
# logits ../shared/reference/golden holds, and the seed of its weights.
GOLDEN = REFERENCE / "golden" / "mobilenetv2_os16"
GOLDEN_SEED = 20180207
ZOO_MOBILENET = dict(model_variant="mobilenet_v2", atrous_rates=None,
                     decoder_output_stride=None)

# The tiny VOC model: 21 classes, crop 129, trained a few steps on real
# VOC crops and saved as ckpt-VOC_STEP (`train_tiny_checkpoint`).
VOC_CROP = (129, 129)
VOC_CLASSES = 21
IGNORE = 255
VOC_STEP = 7
# The sliding window of the shared export's serving_sliding signature.
EXPORT_WINDOW = (129, 129)
EXPORT_STRIDE = (86, 86)
# The small export (conftest's `small_export`): crop and max_image_pixels.
SMALL_EXPORT_CROP = (65, 65)
SMALL_EXPORT_LIMIT = 160 * 160


def require(path: pathlib.Path) -> pathlib.Path:
  """Skips the test when a ../shared fixture is not beside the checkout."""
  if not path.exists():
    pytest.skip("fixture %s not found (../shared is not beside this "
                "checkout)" % path)
  return path


def onnx_available() -> bool:
  """tf2onnx and onnxruntime are installed (the .[onnx] extra)."""
  return all(importlib.util.find_spec(m) is not None
             for m in ("tf2onnx", "onnxruntime"))


def reference_maker():
  """The reference's own TF1 checkpoint writer (../shared/reference)."""
  path = require(REFERENCE / "make_tf1_checkpoint.py")
  spec = importlib.util.spec_from_file_location("make_tf1_checkpoint", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def make_golden_checkpoint(prefix) -> str:
  """Writes the golden MobileNetV2 TF1 checkpoint (bit for bit the one the
  golden logits were computed with) at `prefix`; returns its sha256."""
  return reference_maker().make_checkpoint(
      str(GOLDEN / "variables.json"), str(prefix), GOLDEN_SEED,
      str(require(GOLDEN / "bn_stats.npz")))


# ------------------------------------------------------------ tiny models
def tiny_options(num_classes=3, depth_multiplier=0.25, filters=16):
  """A small MobileNetV2 DeepLabv3+ (decoder at stride 4, no ASPP 3x3
  branches)."""
  from deeplab_tf.config import ModelOptions  # pylint: disable=g-import-not-at-top
  return ModelOptions(model_variant="mobilenet_v2", num_classes=num_classes,
                      atrous_rates=None, depth_multiplier=depth_multiplier,
                      aspp_convs_filters=filters, decoder_filters=filters)


def voc_tiny_options():
  """The tiny VOC model: 21 classes, depth 0.5, 32 filters (crop VOC_CROP)."""
  return tiny_options(VOC_CLASSES, depth_multiplier=0.5, filters=32)


def tiny_data(num_classes=3, crop=65, name="", dataset_dir=""):
  """A DataConfig of numbered classes (ignore label 255) at `crop`; a
  built-in `name` brings its own classes."""
  # pylint: disable=g-import-not-at-top
  from deeplab_tf.data import get_dataset_descriptor
  from deeplab_tf.data.data_config import DataConfig, generic_descriptor
  descriptor = (get_dataset_descriptor(name) if name
                else generic_descriptor("", num_classes, IGNORE))
  return DataConfig(descriptor=descriptor, dataset_dir=str(dataset_dir),
                    crop_size=(crop, crop))


def tiny_run(model, data, **train):
  """A RunConfig of `model` and `data` with train settings `train` (None:
  no train section)."""
  # pylint: disable=g-import-not-at-top
  from deeplab_tf.run_config import RunConfig
  from deeplab_tf.training.config import TrainConfig
  return RunConfig(model=model, data=data,
                   train=TrainConfig(**train) if train else None)


def tiny_config(logdir, num_classes=3, model=None, crop=65, **kwargs):
  """A RunConfig of the tiny model: 4 steps of batch 2, no periodic
  saves or summaries (`kwargs`: TrainConfig fields)."""
  defaults = dict(train_batch_size=2, base_learning_rate=0.02,
                  training_number_of_steps=4, train_logdir=str(logdir),
                  save_interval_secs=1e9, save_summaries_secs=1e9,
                  log_steps=2, batch_norm_decay=0.9, seed=1)
  defaults.update(kwargs)
  return tiny_run(model or tiny_options(num_classes),
                  tiny_data(num_classes, crop), **defaults)


def fixed_batches(images, labels):
  """dataset_fn repeating one batch (float32 images, int32 labels)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  def dataset_fn(context):
    del context
    ds = tf.data.Dataset.from_tensors({"image": np.float32(images),
                                       "label": np.int32(labels)})
    return ds.repeat()
  return dataset_fn


def random_batch(batch=2, size=65, num_classes=3, seed=0):
  rng = np.random.RandomState(seed)
  return (rng.uniform(0, 255, (batch, size, size, 3)),
          rng.randint(0, num_classes, (batch, size, size)))


# The flags (train.py names) of a tiny synthetic run at crop 33.
TINY_FLAGS = {"model_variant": "mobilenet_v2", "depth_multiplier": 0.25,
              "train_crop_size": ["33", "33"], "train_batch_size": 2,
              "min_scale_factor": 1.0, "max_scale_factor": 1.0,
              "log_steps": 1, "seed": 1, "save_summaries_secs": 1e9}


def damage(prefix, how):
  """Truncates ('truncate') or flips one bit of a checkpoint's data file."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  data = tf.io.gfile.glob(prefix + ".data-*")[0]
  with open(data, "rb") as f:
    raw = bytearray(f.read())
  if how == "truncate":
    raw = raw[:len(raw) // 2]
  else:
    raw[len(raw) // 3] ^= 0x01
  with open(data, "wb") as f:
    f.write(bytes(raw))


def write_checkpoints(config, steps):
  """Saves untrained checkpoints at `steps` and the run's configuration,
  as train.py lays them out (without tracing a training step)."""
  # pylint: disable=g-import-not-at-top
  import tensorflow as tf
  from deeplab_tf.run_config import save_run_config
  from deeplab_tf.training import loop
  from deeplab_tf.training.strategy import make_strategy
  trainer = loop.Trainer(config, make_strategy("one_device"))
  logdir = config.train.train_logdir
  manager = tf.train.CheckpointManager(
      trainer.checkpoint, logdir, max_to_keep=config.train.max_to_keep,
      checkpoint_name=loop.CHECKPOINT_NAME)
  for step in steps:
    trainer.step.assign(step)
    manager.save(checkpoint_number=step)
  save_run_config(logdir, config)


# ------------------------------------------------------------- VOC images
def voc_root(data_dir: pathlib.Path) -> pathlib.Path:
  return data_dir / "voc/VOCdevkit/VOC2012"


def read_rgb(path) -> np.ndarray:
  from PIL import Image  # pylint: disable=g-import-not-at-top
  return np.asarray(Image.open(path).convert("RGB"))


def encode(image: np.ndarray, fmt: str, mode=None) -> bytes:
  from PIL import Image  # pylint: disable=g-import-not-at-top
  buffer = io.BytesIO()
  Image.fromarray(image, mode).save(buffer, format=fmt)
  return buffer.getvalue()


def _set_bn_statistics(model, images):
  """Moving statistics := the statistics of `images` (momentum 0 once)."""
  import keras  # pylint: disable=g-import-not-at-top
  bns = [l for l in model.layers
         if isinstance(l, keras.layers.BatchNormalization)]
  saved = [bn.momentum for bn in bns]
  for bn in bns:
    bn.momentum = 0.0
  model(images, training=True)
  for bn, momentum in zip(bns, saved):
    bn.momentum = momentum


def train_tiny_checkpoint(data_dir: pathlib.Path, logdir: pathlib.Path,
                          tfrecord_dir: pathlib.Path, steps: int = 12):
  """A few Adam steps of the tiny VOC model on real VOC crops; writes
  ckpt-VOC_STEP and the run configuration (dataset_dir `tfrecord_dir`)."""
  # pylint: disable=g-import-not-at-top
  import keras
  import tensorflow as tf
  from PIL import Image
  from deeplab_tf.model import build_model
  from deeplab_tf.run_config import save_run_config
  keras.utils.set_random_seed(1)
  opts = voc_tiny_options()
  model = build_model(opts, upsample_logits=True)
  root = voc_root(data_dir)
  names = (root / "ImageSets/Segmentation/val.txt").read_text().split()[:4]
  images = np.stack([read_rgb(root / "JPEGImages" / (n + ".jpg"))
                     [:VOC_CROP[0], :VOC_CROP[1]] for n in names]
                    ).astype(np.float32)
  labels = np.stack([np.asarray(Image.open(root / "SegmentationClass" /
                                           (n + ".png")))
                     [:VOC_CROP[0], :VOC_CROP[1]] for n in names]
                    ).astype(np.int32)
  _set_bn_statistics(model, images)
  optimizer = keras.optimizers.Adam(3e-3)
  valid = tf.cast(labels != IGNORE, tf.float32)
  safe = np.where(labels == IGNORE, 0, labels)
  for _ in range(steps):
    with tf.GradientTape() as tape:
      logits = model(images, training=False)
      xent = keras.losses.sparse_categorical_crossentropy(
          safe, logits, from_logits=True)
      loss = tf.reduce_sum(valid * xent) / tf.reduce_sum(valid)
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
  manager = tf.train.CheckpointManager(tf.train.Checkpoint(model=model),
                                       str(logdir), max_to_keep=1)
  manager.save(checkpoint_number=VOC_STEP)
  save_run_config(str(logdir), tiny_run(
      opts, tiny_data(crop=VOC_CROP[0], name="pascal_voc_seg",
                      dataset_dir=tfrecord_dir),
      training_number_of_steps=steps))
  return opts, float(loss)


def score_val_split(model, records, mean_pixel, crop=(513, 513)):
  """(confusion matrix, near-tie pixels) of `model` on the VOC val records,
  image by image in eager mode: the independent scoring the eval CLI tests
  compare against. Near ties (top-2 probabilities within 1e-4) are the only
  pixels whose label may differ between two float paths."""
  # pylint: disable=g-import-not-at-top
  import tensorflow as tf
  from deeplab_tf.data.input_pipeline import decode_example, list_split_files
  from deeplab_tf.evaluation import metrics
  from deeplab_tf.inference import predict_probabilities
  from deeplab_tf.padding import pad_to_crop
  cm = np.zeros((21, 21), np.int64)
  near_ties = 0
  for record in tf.data.TFRecordDataset(list_split_files(str(records),
                                                         "val")):
    example = decode_example(record)
    image = tf.cast(example["image"], tf.float32)[tf.newaxis]
    h, w = image.shape[1:3]
    probs = predict_probabilities(model, pad_to_crop(
        image, crop, mean_pixel)).numpy()[0, :h, :w]
    label = example["label"].numpy()
    top2 = np.sort(probs, axis=-1)[..., -2:]
    near_ties += int(np.sum((top2[..., 1] - top2[..., 0] < 1e-4)
                            & (label != 255)))
    cm += metrics.confusion_matrix_np(label, probs.argmax(-1), 21, 255)
  return cm, near_ties


@contextlib.contextmanager
def script_in_fresh_process(tmp_path, text: str, *args, timeout=600):
  """Runs `text` as a Python script in a new process (cwd `tmp_path`, so
  the checkout is not on its path) while the body computes the expected
  result; asserts that the script exits 0."""
  script = tmp_path / "fresh_process.py"
  script.write_text(text)
  proc = subprocess.Popen([sys.executable, str(script)] + [str(a) for a in args],
                          cwd=tmp_path, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
  try:
    yield proc
    _, stderr = proc.communicate(timeout=timeout)
  finally:
    if proc.poll() is None:
      proc.kill()
      proc.wait()
  assert proc.returncode == 0, stderr[-3000:]


def random_bn_statistics(model, seed=0):
  """Random BatchNorm gamma, beta, mean and variance (folding and latency
  checks need statistics that are not the identity)."""
  import keras  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(seed)
  for bn in model.layers:
    if isinstance(bn, keras.layers.BatchNormalization):
      c = bn.moving_mean.shape[-1]
      bn.set_weights([rng.uniform(0.5, 1.5, c), rng.normal(0, 0.2, c),
                      rng.normal(0, 0.2, c), rng.uniform(0.5, 2.0, c)])
