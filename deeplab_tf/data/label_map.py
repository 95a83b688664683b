"""Label-map files: a custom dataset described without editing source.

JSON (`*.json`)::

  {"name": "camvid",                     # optional, default: file stem
   "ignore_label": 11,
   "ignore_color": [0, 0, 0],            # optional: void colour in RGB masks
   "classes": [{"id": 0, "name": "sky", "color": [128, 128, 128]}, ...],
   "splits": {"train": 367, "val": 101}} # optional

or plain text (any other suffix), one entry per line, `#` starts a comment::

  0, sky, 128, 128, 128
  1, building, 128, 0, 0
  ignore, 11, 0, 0, 0                    # id, then an optional colour
  split, train, 367

Class ids must be exactly 0 .. N-1 (in any order); colours are optional but
all-or-none.
"""

import json
import os

from deeplab_tf.atomic_io import atomic_write_text
from deeplab_tf.data.descriptor import DatasetDescriptor
from deeplab_tf.data.errors import DataError


def _color(value, where):
  try:
    color = tuple(int(v) for v in value)
  except (TypeError, ValueError):
    color = ()
  if len(color) != 3 or not all(0 <= c <= 255 for c in color):
    raise DataError("%s: a colour must be three integers in [0, 255], got %r"
                    % (where, value))
  return color


def _parse_json(path):
  with open(path, encoding="utf-8") as f:
    try:
      data = json.load(f)
    except json.JSONDecodeError as e:
      raise DataError("%s: not valid JSON (%s)" % (path, e)) from None
  return _parse_json_data(data, path)


def _parse_json_data(data, path):
  if not isinstance(data, dict) or "classes" not in data:
    raise DataError("%s: a label map needs a 'classes' list" % path)
  if "ignore_label" not in data:
    raise DataError("%s: a label map needs 'ignore_label'" % path)
  classes = []
  for entry in data["classes"]:
    if "id" not in entry or "name" not in entry:
      raise DataError("%s: every class needs 'id' and 'name': %r"
                      % (path, entry))
    color = entry.get("color")
    classes.append((int(entry["id"]), str(entry["name"]),
                    None if color is None else _color(color, path)))
  ignore_color = data.get("ignore_color")
  return (data.get("name"), classes, int(data["ignore_label"]),
          None if ignore_color is None else _color(ignore_color, path),
          {str(k): int(v) for k, v in data.get("splits", {}).items()})


def _parse_text(path):
  classes, ignore_label, ignore_color, splits = [], None, None, {}
  with open(path, encoding="utf-8") as f:
    for number, line in enumerate(f, 1):
      line = line.split("#", 1)[0].strip()
      if not line:
        continue
      parts = [p.strip() for p in line.split(",")]
      where = "%s:%d" % (path, number)
      try:
        if parts[0] == "ignore":
          ignore_label = int(parts[1])
          if len(parts) > 2:
            ignore_color = _color(parts[2:], where)
        elif parts[0] == "split":
          splits[parts[1]] = int(parts[2])
        else:
          color = _color(parts[2:], where) if len(parts) > 2 else None
          classes.append((int(parts[0]), parts[1], color))
      except DataError:
        raise
      except (IndexError, ValueError):
        raise DataError("%s: cannot parse %r (expected 'id, name[, r, g, b]'"
                        ", 'ignore, id[, r, g, b]' or 'split, name, size')"
                        % (where, line)) from None
  if ignore_label is None:
    raise DataError("%s: no 'ignore, <id>' line" % path)
  return None, classes, ignore_label, ignore_color, splits


def load_label_map(path: str) -> DatasetDescriptor:
  """Reads a label-map file (JSON or text) into a DatasetDescriptor."""
  if not os.path.isfile(path):
    raise DataError("label map %s does not exist" % path)
  parse = _parse_json if path.endswith(".json") else _parse_text
  return _descriptor(path, *parse(path))


def label_map_from_dict(data, where: str) -> DatasetDescriptor:
  """A JSON label map already parsed (e.g. kept in a dataset's metadata);
  `where` names it in errors."""
  return _descriptor(where, *_parse_json_data(data, where))


def _descriptor(path, name, classes, ignore_label, ignore_color, splits):
  if not classes:
    raise DataError("%s: no classes" % path)
  classes.sort(key=lambda c: c[0])
  ids = [c[0] for c in classes]
  if ids != list(range(len(classes))):
    raise DataError("%s: class ids must be 0 .. %d with none missing or "
                    "repeated, got %s" % (path, len(classes) - 1, ids))
  colors = [c[2] for c in classes]
  if any(c is None for c in colors) and any(c is not None for c in colors):
    raise DataError("%s: give a colour for every class or for none" % path)
  stem = os.path.splitext(os.path.basename(path))[0]
  return DatasetDescriptor(
      name=name or stem, num_classes=len(classes), ignore_label=ignore_label,
      class_names=tuple(c[1] for c in classes),
      colormap=tuple(colors) if colors[0] is not None else (),
      splits_to_sizes=splits, ignore_color=ignore_color)


def label_map_dict(descriptor: DatasetDescriptor) -> dict:
  """`descriptor` as the JSON-ready dict of a label-map file."""
  data = {"name": descriptor.name, "ignore_label": descriptor.ignore_label,
          "classes": [], "splits": dict(descriptor.splits_to_sizes)}
  if descriptor.ignore_color is not None:
    data["ignore_color"] = list(descriptor.ignore_color)
  for i, name in enumerate(descriptor.class_names):
    entry = {"id": i, "name": name}
    if descriptor.colormap:
      entry["color"] = list(descriptor.colormap[i])
    data["classes"].append(entry)
  return data


def write_label_map(descriptor: DatasetDescriptor, path: str) -> str:
  """Writes `descriptor` as a JSON label map (atomically); returns path."""
  atomic_write_text(path, json.dumps(label_map_dict(descriptor), indent=1))
  return path
