"""deeplab_tf.atomic_io.swap_directory (the file writers' umask modes are
checked in test_faults_export.py)."""

import os

from deeplab_tf import atomic_io


def test_swap_directory_replaces_and_leaves_nothing_behind(tmp_path):
  final = tmp_path / "run"
  for content in ("first", "second"):
    staged = atomic_io.make_temp_dir(str(tmp_path), ".staged_")
    atomic_io.atomic_write_text(os.path.join(staged, "f.txt"), content)
    assert atomic_io.swap_directory(staged, str(final)) == str(final)
    assert (final / "f.txt").read_text() == content
    assert os.listdir(final) == ["f.txt"]
    assert os.listdir(tmp_path) == ["run"]  # no staged or old directory
