"""Fault injection, training side: no synthetic data in user directories,
an exclusive logdir lock, resume from the newest intact checkpoint,
unwritable logdirs and full disks, corrupt shards, and kill -9 during
training."""

import errno
import logging
import multiprocessing
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time

import pytest
import tensorflow as tf

from deeplab_tf import checkpoint_files
from deeplab_tf.data import tfrecord_schema as schema
from deeplab_tf.checkpoint_files import intact_checkpoint_prefix
from deeplab_tf.run_config import load_run_config
from deeplab_tf.training import loop
from deeplab_tf.training.logdir_lock import LogdirLock, LogdirLockedError
from deeplab_tf.training.resolve import run_config_from_values
from tests.cli_helpers import run_cli
from tests.helpers import (REPO, TINY_FLAGS, damage, fixed_batches,
                           random_batch, tiny_config, write_checkpoints)

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1")


def listing(directory):
  return sorted((f, os.path.getsize(os.path.join(directory, f)))
                for f in os.listdir(directory))


# ------------------------------------------------ dataset flags, no writes
def test_dataset_dir_without_label_map_is_an_error_not_synthetic(
    synthetic_records, tmp_path):
  records = synthetic_records
  authors = tmp_path / "authors_records"  # records, no label_map.json
  authors.mkdir()
  for f in os.listdir(records):
    if f.endswith(".tfrecord"):
      (authors / f).write_bytes((records / f).read_bytes())
  before = listing(authors)
  with pytest.raises(ValueError, match=r"has no label_map\.json.*pass "
                     r"--dataset="):
    run_config_from_values({"dataset_dir": str(authors)})
  with pytest.raises(ValueError, match=r"--dataset_dir=.*/typo does not "
                     r"exist"):
    run_config_from_values({"dataset_dir": str(tmp_path / "typo")})
  assert not (tmp_path / "typo").exists()
  # --dataset=synthetic with a user directory never writes into it either.
  empty = tmp_path / "empty"
  empty.mkdir()
  config = run_config_from_values({"dataset": "synthetic",
                                     "dataset_dir": str(empty)})
  assert config.data.dataset_dir == str(empty) and os.listdir(empty) == []
  assert listing(authors) == before


def test_num_classes_and_crop_errors(synthetic_records):
  with pytest.raises(ValueError, match=r"--num_classes=3 is smaller than the "
                     r"5 classes of dataset synthetic: labels 3-4"):
    run_config_from_values({"dataset_dir": str(synthetic_records),
                            "num_classes": 3})
  with pytest.raises(ValueError, match=r"--train_crop_size=9,9 is smaller "
                     r"than --output_stride=16"):
    run_config_from_values(dict(TINY_FLAGS,
                                dataset_dir=str(synthetic_records),
                                train_crop_size=["9", "9"]))
  with pytest.raises(ValueError, match=r"--dataset=pascal_voc_seg has 21 "
                     r"classes.*holds records of synthetic with 5 classes"):
    run_config_from_values({"dataset": "pascal_voc_seg",
                            "dataset_dir": str(synthetic_records)})


def test_train_cli_user_errors_are_one_line(synthetic_records, tmp_path):
  afile = tmp_path / "afile"
  afile.write_text("not a directory")
  result = run_cli("train.py", "--dataset_dir=%s" % synthetic_records,
                   "--train_logdir=%s" % afile,
                   *["--%s=%s" % (k, ",".join(v) if isinstance(v, list) else v)
                     for k, v in TINY_FLAGS.items()])
  assert result.returncode != 0
  assert "Traceback" not in result.stderr
  last = result.stderr.strip().splitlines()[-1]
  assert last.startswith("train.py: error: --train_logdir=%s is a file"
                         % afile)
  assert afile.read_text() == "not a directory"


# ------------------------------------------------------------ logdir lock
def _hold_lock(logdir, conn):
  LogdirLock(logdir).acquire()
  conn.send("locked")
  time.sleep(120)  # until killed


def test_logdir_lock_names_the_holder_and_takes_over_stale_locks(
    tmp_path, caplog):
  context = multiprocessing.get_context("fork")
  parent_end, child_end = context.Pipe()
  holder = context.Process(target=_hold_lock, args=(str(tmp_path), child_end))
  holder.start()
  try:
    assert parent_end.poll(60) and parent_end.recv() == "locked"
    with pytest.raises(LogdirLockedError) as error:
      LogdirLock(str(tmp_path)).acquire()
    assert ("pid %d on host %s" % (holder.pid, socket.gethostname())
            in str(error.value))
    # A second training (through loop.train) is refused the same way and
    # writes nothing.
    with pytest.raises(LogdirLockedError):
      loop.train(tiny_config(tmp_path))
    assert sorted(os.listdir(tmp_path)) == ["train.lock"]
  finally:
    os.kill(holder.pid, signal.SIGKILL)  # dies holding the lock
    holder.join(30)
  with caplog.at_level(logging.WARNING):
    lock = LogdirLock(str(tmp_path)).acquire()
  assert lock.took_over["pid"] == holder.pid
  assert "stale lock" in caplog.text and str(holder.pid) in caplog.text
  lock.release()
  LogdirLock(str(tmp_path)).acquire().release()  # released cleanly
  assert LogdirLock(str(tmp_path)).acquire().took_over is None


# ------------------------------------------------- checkpoints, full disk
def test_resume_falls_back_to_the_newest_intact_checkpoint(tmp_path, caplog):
  images, labels = random_batch()
  config = tiny_config(tmp_path, training_number_of_steps=3,
                       save_interval_secs=0)
  write_checkpoints(config, (1, 2, 3))
  prefixes = [str(tmp_path / ("ckpt-%d" % s)) for s in (3, 2, 1)]
  assert checkpoint_files.checkpoint_prefixes(str(tmp_path)) == prefixes
  os.makedirs(tmp_path / "ckpt-9_temp")  # left by a save killed midway
  damage(prefixes[0], "truncate")
  damage(prefixes[1], "bitflip")
  with pytest.raises(checkpoint_files.CorruptCheckpointError,
                     match="ckpt-3 is truncated or corrupt"):
    intact_checkpoint_prefix(prefixes[0])
  with caplog.at_level(logging.WARNING):
    assert intact_checkpoint_prefix(str(tmp_path)) == prefixes[2]
  assert "ckpt-3" in caplog.text and "ckpt-2" in caplog.text
  assert "falling back to %s" % prefixes[2] in caplog.text
  caplog.clear()
  # Resume, then a full disk at the save of step 3: one clear OSError, and
  # the last good checkpoint stays the newest.
  original = tf.train.CheckpointManager.save

  def no_space_at_3(manager, checkpoint_number=None, **kwargs):
    if checkpoint_number == 3:
      raise tf.errors.ResourceExhaustedError(
          None, None, "ckpt-3_temp/part-00000: No space left on device")
    return original(manager, checkpoint_number=checkpoint_number, **kwargs)
  tf.train.CheckpointManager.save = no_space_at_3
  try:
    with caplog.at_level(logging.INFO), pytest.raises(
        OSError, match=r"cannot write checkpoint 3 .*No space left.*last "
        r"good checkpoint is .*ckpt-2"):
      loop.train(config.with_train(training_number_of_steps=4),
                 dataset_fn=fixed_batches(images, labels))
  finally:
    tf.train.CheckpointManager.save = original
  assert "resuming from %s at step 1" % prefixes[2] in caplog.text
  assert not (tmp_path / "ckpt-9_temp").exists()
  assert intact_checkpoint_prefix(str(tmp_path)) == prefixes[1]  # saved again
  damage(prefixes[1], "truncate")
  os.remove(prefixes[2] + ".index")
  with pytest.raises(ValueError, match="no intact checkpoint"):
    loop.train(config.with_train(training_number_of_steps=6),
               dataset_fn=fixed_batches(images, labels))


def test_unwritable_logdir_is_one_clear_error(tmp_path, monkeypatch):
  logdir = tmp_path / "readonly"
  logdir.mkdir()
  if os.geteuid() != 0:
    logdir.chmod(0o555)
  else:  # root ignores modes: simulate the read-only mount
    real_open = os.open

    def read_only(path, flags, *args, **kwargs):
      if str(path).startswith(str(logdir)) and flags & os.O_CREAT:
        raise PermissionError(errno.EROFS, os.strerror(errno.EROFS), path)
      return real_open(path, flags, *args, **kwargs)
    monkeypatch.setattr(os, "open", read_only)
  try:
    with pytest.raises(PermissionError) as error:
      loop.train(tiny_config(logdir))
  finally:
    logdir.chmod(0o755)
  assert error.value.filename == str(logdir / "train.lock")


def test_corrupt_shard_in_training_names_the_file(synthetic_records, tmp_path):
  data = tmp_path / "data"
  data.mkdir()
  for f in os.listdir(synthetic_records):
    (data / f).write_bytes((synthetic_records / f).read_bytes())
  shard = schema.split_files(str(data), "train")[0]
  raw = open(shard, "rb").read()
  open(shard, "wb").write(raw[:len(raw) - 50])
  config = run_config_from_values(dict(
      TINY_FLAGS, dataset_dir=str(data), train_logdir=str(tmp_path / "run"),
      training_number_of_steps=2))
  with pytest.raises(ValueError, match=r"shard %s is truncated or corrupt"
                     % re.escape(shard)):
    loop.train(config)


# ---------------------------------------------------------- kill -9 runs
def test_kill_9_during_training_always_resumes(synthetic_records, tmp_path):
  logdir = tmp_path / "run"
  flags = dict(TINY_FLAGS, dataset_dir=str(synthetic_records),
               train_logdir=str(logdir),
               save_interval_secs=0, training_number_of_steps=100000)
  cmd = [sys.executable, "train.py"] + [
      "--%s=%s" % (k, ",".join(v) if isinstance(v, list) else v)
      for k, v in flags.items()]
  rng = random.Random(0)
  outputs = []
  for attempt in range(2):
    proc = subprocess.Popen(cmd, cwd=REPO, env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in proc.stdout:
      lines.append(line)
      if "saved checkpoint" in line:
        break
    time.sleep(rng.uniform(0.0, 1.0))
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    outputs.append("".join(lines))
  # The second run resumed from what the first kill left, taking over its
  # lock; the second kill leaves an intact newest checkpoint and a stale lock.
  assert re.search(r"taking over the stale lock .* pid \d+", outputs[1])
  assert re.search(r"resuming from .*ckpt-\d+ at step \d+", outputs[1])
  prefix = intact_checkpoint_prefix(str(logdir))  # reads every tensor
  assert tf.train.load_checkpoint(prefix).get_tensor(
      "step/.ATTRIBUTES/VARIABLE_VALUE") == int(prefix.rsplit("-", 1)[1])
  assert load_run_config(str(logdir)).model.depth_multiplier == 0.25
  lock = LogdirLock(str(logdir)).acquire()
  assert lock.took_over is not None
  lock.release()
