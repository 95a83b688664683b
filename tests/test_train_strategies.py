"""One training step gives the same loss and update under one_device,
mirrored (two logical CPU devices) and multi_worker (two local worker
processes, TF_CONFIG on 127.0.0.1) for the same global batch.

mirrored and multi_worker run in their own processes (logical devices and
collectives must be configured before TensorFlow starts), all three at
once, while one_device runs in the test's process; this file is also those
processes' script: `python -m tests.test_train_strategies <mode> <workdir>`.
"""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from tests.helpers import REPO, tiny_data, tiny_options, tiny_run

GLOBAL_BATCH = 4
CROP = 65


def _config():
  return tiny_run(tiny_options(num_classes=3), tiny_data(3, CROP),
                  train_batch_size=4, base_learning_rate=0.05,
                  training_number_of_steps=10, weight_decay=4e-5,
                  fine_tune_batch_norm=True)


def _one_step(mode: str, workdir: str):
  """Runs one step under `mode`; returns the results as a JSON-able dict."""
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
  return {"replicas": n, "loss": float(out["loss"]),
          "data_loss": float(out["data_loss"]),
          "pixels": int(np.sum(out["confusion"].numpy())),
          "kernel": kernel.ravel()[:64].tolist(),
          "moving_mean": moving.ravel().tolist()}


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


def _start(mode, workdir, name, env=None):
  """Starts `mode`'s process; its output goes to files (a full pipe would
  stall a worker that the other worker waits for)."""
  with open(workdir / (name + ".out"), "w") as out, \
       open(workdir / (name + ".err"), "w") as err:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.test_train_strategies", mode,
         str(workdir)], cwd=REPO, env=_env(env), stdout=out, stderr=err)


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

  # The three processes start together; one_device runs here meanwhile.
  ports = [_free_port(), _free_port()]
  cluster = {"worker": ["127.0.0.1:%d" % p for p in ports]}
  names = ["mirrored", "worker0", "worker1"]
  procs = [_start("mirrored", tmp_path, names[0])]
  for task in range(2):
    tf_config = json.dumps({"cluster": cluster,
                            "task": {"type": "worker", "index": task}})
    procs.append(_start("multi_worker", tmp_path, names[task + 1],
                        {"TF_CONFIG": tf_config}))
  try:
    single = _one_step("one_device", str(tmp_path))
    outputs = []
    for proc, name in zip(procs, names):
      proc.wait(timeout=400)
      stderr = (tmp_path / (name + ".err")).read_text()
      assert proc.returncode == 0, stderr[-3000:]
      outputs.append(_result((tmp_path / (name + ".out")).read_text()))
  finally:
    for p in procs:
      if p.poll() is None:
        p.kill()
        p.wait()
  mirrored, outputs = outputs[0], outputs[1:]
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
  print("RESULT " + json.dumps(_one_step(sys.argv[1], sys.argv[2])),
        flush=True)
