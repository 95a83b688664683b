"""Fault injection, evaluation side: a corrupt newest checkpoint falls back,
continuous evaluation skips checkpoints that vanished, another dataset's
records and a missing --checkpoint_dir are errors naming both sides."""

import logging
import os
import re
import shutil

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from deeplab_tf.data import tfrecord_schema as schema
from deeplab_tf.data.builders import build_folder
from deeplab_tf.evaluation import evaluator
from deeplab_tf.evaluation.resolve import eval_run_from_checkpoint
from deeplab_tf.training.resolve import run_config_from_values
from tests.cli_helpers import run_cli
from tests.helpers import TINY_FLAGS, damage, write_checkpoints


@pytest.fixture(scope="module")
def trained(tmp_path_factory, synthetic_records):
  """(logdir with ckpt-1 and ckpt-2 of a tiny synthetic run, its records,
  a CamVid-labelled folder dataset)."""
  root = tmp_path_factory.mktemp("eval_faults")
  records = synthetic_records
  config = run_config_from_values(dict(
      TINY_FLAGS, dataset_dir=str(records), train_logdir=str(root / "run"),
      training_number_of_steps=2))
  write_checkpoints(config, (1, 2))
  folder = root / "camvid_src"
  (folder / "images").mkdir(parents=True)
  (folder / "masks").mkdir()
  rng = np.random.default_rng(0)
  for i in range(2):
    Image.fromarray(rng.integers(0, 255, (33, 33, 3), np.uint8)).save(
        folder / "images" / ("%d.png" % i))
    Image.fromarray(rng.integers(0, 11, (33, 33), np.uint8), mode="L").save(
        folder / "masks" / ("%d.png" % i))
  build_folder(str(folder), str(root / "camvid"), "camvid", split="val",
               num_workers=1, verbose=False)
  return root / "run", records, root / "camvid"


def copy_run(trained, tmp_path):
  run = tmp_path / "run"
  shutil.copytree(trained[0], run)
  return run


def config_for(run, tmp_path, **kwargs):
  return eval_run_from_checkpoint(str(run), str(tmp_path / "eval"),
                                  **kwargs)


def test_missing_checkpoint_dir_is_named(tmp_path):
  with pytest.raises(FileNotFoundError, match=r"--checkpoint_dir=.*/nope "
                     r"does not exist"):
    config_for(tmp_path / "nope", tmp_path)


def test_another_datasets_records_are_an_error_naming_both(trained, tmp_path):
  run, _, camvid = trained
  with pytest.raises(ValueError, match=r"--dataset_dir=.*camvid holds "
                     r"dataset camvid \(11 classes.*trained on dataset "
                     r"synthetic \(5 classes"):
    config_for(run, tmp_path, overrides={"dataset_dir": str(camvid)})
  # The same records without their label map: caught from the labels.
  bare = tmp_path / "bare"
  bare.mkdir()
  for f in os.listdir(camvid):
    if f.endswith(".tfrecord"):
      shutil.copy(camvid / f, bare / f)
  config = config_for(run, tmp_path, overrides={"dataset_dir": str(bare)})
  with pytest.raises(ValueError, match=r"label pixels of split val are "
                     r"outside \[0, 5\).*another dataset"):
    evaluator.run(config)
  assert not (tmp_path / "eval" / "metrics.json").exists()


def test_corrupt_newest_checkpoint_falls_back(trained, tmp_path, caplog):
  run = copy_run(trained, tmp_path)
  damage(str(run / "ckpt-2"), "bitflip")
  with caplog.at_level(logging.WARNING):
    result = evaluator.run(config_for(run, tmp_path))
  assert result["checkpoint"] == str(run / "ckpt-1") and result["step"] == 1
  assert re.search(r"ckpt-2 is truncated or corrupt.*falling back to "
                   r".*ckpt-1", caplog.text)


def publish_copy(run, step):
  """Training saves ckpt-<step> (a copy of ckpt-2)."""
  for f in tf.io.gfile.glob(str(run / "ckpt-2.*")):
    shutil.copy(f, f.replace("ckpt-2.", "ckpt-%d." % step))
  tf.compat.v1.train.update_checkpoint_state(str(run),
                                             str(run / ("ckpt-%d" % step)))


def test_continuous_eval_skips_vanished_checkpoints(trained, tmp_path,
                                                     caplog, monkeypatch):
  run = copy_run(trained, tmp_path)
  publish_copy(run, 5)
  real_restore = evaluator.restore_model

  def training_rotates_first(model, prefix):
    if prefix.endswith("ckpt-5"):  # max_to_keep removes it before restore
      publish_copy(run, 6)
      for f in tf.io.gfile.glob(prefix + ".*"):
        os.remove(f)
    return real_restore(model, prefix)
  monkeypatch.setattr(evaluator, "restore_model", training_rotates_first)
  config = config_for(run, tmp_path, max_number_of_evaluations=0,
                      eval_interval_secs=0.2, eval_timeout_secs=60)
  config = config.replace(eval=config.eval.replace(stop_at_step=2))
  with caplog.at_level(logging.WARNING):
    result = evaluator.run(config)
  assert result["checkpoint"] == str(run / "ckpt-6") and result["step"] == 2
  assert re.search(r"skipping checkpoint .*ckpt-5: checkpoint .*ckpt-5 not "
                   r"found", caplog.text)


def test_truncated_eval_shard_is_named(trained, tmp_path):
  run, records, _ = trained
  data = tmp_path / "data"
  shutil.copytree(records, data)
  shard = schema.split_files(str(data), "val")[0]
  raw = open(shard, "rb").read()
  open(shard, "wb").write(raw[:len(raw) - 40])
  config = config_for(run, tmp_path, overrides={"dataset_dir": str(data)})
  with pytest.raises(ValueError, match=r"shard %s is truncated"
                     % re.escape(shard)):
    evaluator.run(config)


def test_eval_cli_missing_checkpoint_dir_is_one_line(tmp_path):
  result = run_cli("eval.py", "--checkpoint_dir=%s" % (tmp_path / "x"))
  assert result.returncode != 0 and "Traceback" not in result.stderr
  assert result.stderr.strip().splitlines()[-1] == (
      "eval.py: error: --checkpoint_dir=%s does not exist (neither a "
      "directory nor a checkpoint prefix with a .index file)"
      % (tmp_path / "x"))
