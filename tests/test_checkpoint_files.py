"""deeplab_tf.checkpoint_files: which checkpoint a path means, its kind and
its step (the CRC checks and the fallback are in test_train_faults.py)."""

import pytest
import tensorflow as tf

from deeplab_tf import checkpoint_files as cf


def test_prefix_step_is_the_number_of_the_name():
  assert cf.prefix_step("/runs/a-1/ckpt-1200") == 1200
  assert cf.prefix_step("/runs/a-1/model.ckpt") is None


def test_trained_step_reads_the_stored_step(tmp_path):
  """A train.py checkpoint's `step` wins over its name; a TF1 checkpoint's
  `global_step` likewise; without one the name gives the step."""
  step = tf.Variable(7, dtype=tf.int64)
  prefix = tf.train.Checkpoint(step=step).write(str(tmp_path / "ckpt-3"))
  assert cf.trained_step(prefix) == 7
  assert not cf.is_tf1_checkpoint(prefix)
  weights = tf.train.Checkpoint(w=tf.Variable(1.0)).write(
      str(tmp_path / "w-5"))
  assert cf.trained_step(weights) == 5


def test_resolve_checkpoint_prefix_of_a_zoo_directory(tmp_path):
  (tmp_path / "model.ckpt.index").write_bytes(b"")
  assert cf.resolve_checkpoint_prefix(str(tmp_path)) == str(
      tmp_path / "model.ckpt")
  (tmp_path / "other.ckpt.index").write_bytes(b"")
  with pytest.raises(ValueError, match="several checkpoints"):
    cf.resolve_checkpoint_prefix(str(tmp_path))
  with pytest.raises(FileNotFoundError, match="no .*index"):
    cf.resolve_checkpoint_prefix(str(tmp_path / "missing"))


def test_a_relative_run_directory_gives_its_own_checkpoints(tmp_path,
                                                            monkeypatch):
  """`python train.py && python eval.py` use the relative runs/default:
  the prefixes must be runs/default/ckpt-N, not the directory twice."""
  monkeypatch.chdir(tmp_path)
  manager = tf.train.CheckpointManager(
      tf.train.Checkpoint(w=tf.Variable(1.0)), "runs/default", max_to_keep=2,
      checkpoint_name="ckpt")
  manager.save(checkpoint_number=1)
  manager.save(checkpoint_number=2)
  assert cf.checkpoint_prefixes("runs/default") == [
      "runs/default/ckpt-2", "runs/default/ckpt-1"]
  assert cf.intact_checkpoint_prefix("runs/default") == "runs/default/ckpt-2"
