"""One training step gives the same loss and update under one_device,
mirrored (two logical CPU devices) and multi_worker (two local worker
processes, TF_CONFIG on 127.0.0.1) for the same global batch.

Each strategy runs in its own process (logical devices and collectives must
be configured before TensorFlow starts); this file is also that process's
script: `python -m tests.test_train_strategies <mode> <workdir> [task]`.
"""

import json
import os
import pathlib
import socket
import subprocess
import sys

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
GLOBAL_BATCH = 4
CROP = 65


def _config():
  from deeplab_tf.config import ModelOptions
  from deeplab_tf.training.config import TrainConfig
  model = ModelOptions(model_variant="mobilenet_v2", num_classes=3,
                       atrous_rates=None, crop_size=(CROP, CROP),
                       depth_multiplier=0.25, aspp_convs_filters=16,
                       decoder_filters=16)
  return TrainConfig(model=model, ignore_label=255, train_batch_size=4,
                     base_learning_rate=0.05, training_number_of_steps=10,
                     weight_decay=4e-5, fine_tune_batch_norm=True)


def _one_step(mode: str, workdir: str):
  """Runs one step under `mode`; prints a JSON line with the results."""
  import tensorflow as tf
  if mode == "mirrored":
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
  from deeplab_tf.training.loop import Trainer
  from deeplab_tf.training.strategy import make_strategy
  strategy = make_strategy(mode)
  trainer = Trainer(_config(), strategy)
  weights = np.load(os.path.join(workdir, "weights.npz"))
  trainer.model.set_weights([weights["w%d" % i] for i in range(len(weights))])
  batch = np.load(os.path.join(workdir, "batch.npz"))
  n = strategy.num_replicas_in_sync
  per = GLOBAL_BATCH // n
  chunks = {k: batch[k].reshape((n, per) + batch[k].shape[1:])
            for k in ("image", "label")}

  def dataset_fn(context):
    ds = tf.data.Dataset.from_tensor_slices(chunks)
    return ds.shard(context.num_input_pipelines, context.input_pipeline_id)

  distributed = strategy.distribute_datasets_from_function(dataset_fn)
  out = trainer.train_step(next(iter(distributed)))
  kernel = trainer.model.get_layer("aspp0").kernel.numpy()
  moving = trainer.model.get_layer("aspp0.BatchNorm").moving_mean.numpy()
  print("RESULT " + json.dumps({
      "replicas": n, "loss": float(out["loss"]),
      "data_loss": float(out["data_loss"]),
      "pixels": int(np.sum(out["confusion"].numpy())),
      "kernel": kernel.ravel()[:64].tolist(),
      "moving_mean": moving.ravel().tolist()}), flush=True)


def _free_port():
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _env(extra=None):
  env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="2",
             CUDA_VISIBLE_DEVICES="")
  env.update(extra or {})
  return env


def _result(stdout: str):
  for line in stdout.splitlines():
    if line.startswith("RESULT "):
      return json.loads(line[len("RESULT "):])
  raise AssertionError("no result in output:\n" + stdout[-3000:])


def _run(mode, workdir, env=None):
  proc = subprocess.run(
      [sys.executable, "-m", "tests.test_train_strategies", mode,
       str(workdir)], cwd=REPO, env=_env(env), capture_output=True,
      text=True, timeout=400)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return _result(proc.stdout)


@pytest.mark.slow
def test_one_step_agrees_across_strategies(tmp_path):
  from deeplab_tf.model import build_model
  config = _config()
  model = build_model(config.model, upsample_logits=False)
  np.savez(tmp_path / "weights.npz",
           **{"w%d" % i: w for i, w in enumerate(model.get_weights())})
  rng = np.random.RandomState(0)
  labels = rng.randint(0, 3, (GLOBAL_BATCH, CROP, CROP)).astype(np.int32)
  labels[:, :5] = 255
  labels[1] = np.where(rng.rand(CROP, CROP) < 0.5, 255, labels[1])
  images = rng.uniform(0, 255, (GLOBAL_BATCH, CROP, CROP, 3)).astype(
      np.float32)
  np.savez(tmp_path / "batch.npz", image=images, label=labels)

  single = _run("one_device", tmp_path)
  mirrored = _run("mirrored", tmp_path)
  ports = [_free_port(), _free_port()]
  cluster = {"worker": ["127.0.0.1:%d" % p for p in ports]}
  workers = []
  for task in range(2):
    tf_config = json.dumps({"cluster": cluster,
                            "task": {"type": "worker", "index": task}})
    workers.append(subprocess.Popen(
        [sys.executable, "-m", "tests.test_train_strategies", "multi_worker",
         str(tmp_path)], cwd=REPO, env=_env({"TF_CONFIG": tf_config}),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
  outputs = []
  for proc in workers:
    try:
      stdout, stderr = proc.communicate(timeout=400)
    except subprocess.TimeoutExpired:
      for p in workers:
        p.kill()
      raise
    assert proc.returncode == 0, stderr[-3000:]
    outputs.append(_result(stdout))
  assert [single["replicas"], mirrored["replicas"]] == [1, 2]
  assert [o["replicas"] for o in outputs] == [2, 2]
  valid = int((labels != 255).sum())
  for result in [mirrored] + outputs:
    assert result["pixels"] == single["pixels"] == valid
    # SyncBN computes the variance from summed moments: ~1e-4 relative.
    assert result["loss"] == pytest.approx(single["loss"], rel=5e-4)
    assert result["data_loss"] == pytest.approx(single["data_loss"],
                                                rel=5e-4)
    np.testing.assert_allclose(result["kernel"], single["kernel"],
                               rtol=1e-3, atol=1e-5)
    # Synchronised BN: the moving statistics see the whole global batch.
    np.testing.assert_allclose(result["moving_mean"], single["moving_mean"],
                               rtol=1e-3, atol=1e-5)


if __name__ == "__main__":
  _one_step(sys.argv[1], sys.argv[2])
