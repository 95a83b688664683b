"""python -m deeplab_tf.zoo list [--dataset=NAME]
python -m deeplab_tf.zoo download NAME [NAME ...] [--cache_dir=DIR]

`list` prints the registry (name, dataset, backbone, eval output stride /
scales / flip, published mIoU, Multiply-Adds, size) and the entries deeplab_tf
cannot load with the reason; `download` fetches, verifies, converts and
caches checkpoints and prints their run directories.
"""

import argparse
import os
import sys
from typing import List

from deeplab_tf import zoo
from deeplab_tf.zoo.registry import DATASET_ORDER


def _scales(scales) -> str:
  return ",".join("%g" % s for s in scales)


def format_table(dataset: str = None) -> str:
  """The registry as a text table, one line per published eval row."""
  header = ("name", "dataset", "backbone", "OS", "scales", "flip", "mIoU",
            "Mult-Adds", "size")
  rows: List[tuple] = []
  refused = []
  for name in zoo.names():
    e = zoo.entry(name)
    if dataset and e.dataset != dataset:
      continue
    label = e.name + (" *" if e.refused else "")
    if e.refused:
      refused.append("%s: %s" % (e.name, e.refused))
    evals = e.eval_rows or (None,)
    for i, r in enumerate(evals):
      first = i == 0
      rows.append((label if first else "", e.dataset if first else "",
                   e.backbone if first else "",
                   str(r.output_stride) if r else "-",
                   _scales(r.scales) if r else "-",
                   {True: "yes", False: "no", None: "-"}[r.flip] if r else "-",
                   r.miou if r else "-",
                   (r.multiply_adds or "-") if r else "-",
                   (e.size or "-") if first else ""))
  widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
  line = lambda cells: "  ".join(str(c).ljust(w) for c, w in
                                 zip(cells, widths)).rstrip()
  out = [line(header), line(["-" * w for w in widths])]
  out += [line(r) for r in rows]
  if refused:
    out += ["", "* cannot be loaded by deeplab_tf:"]
    out += ["  " + r for r in refused]
  return "\n".join(out)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(prog="python -m deeplab_tf.zoo",
                                   description=__doc__.split("\n\n")[-1])
  sub = parser.add_subparsers(dest="command", required=True)
  ls = sub.add_parser("list", help="print the registry")
  ls.add_argument("--dataset", choices=DATASET_ORDER, default=None)
  dl = sub.add_parser("download", help="download, verify, convert, cache")
  dl.add_argument("names", nargs="+", metavar="NAME")
  dl.add_argument("--cache_dir", default=None,
                  help="cache root (default $DEEPLAB_TF_CACHE or "
                  "~/.keras/deeplab_tf)")
  args = parser.parse_args(argv)
  if args.command == "list":
    print(format_table(args.dataset))
    return 0
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  try:
    entries = [zoo.loadable_entry(n) for n in args.names]  # check all first
    for e in entries:
      print("%s: %s" % (e.name, zoo.checkpoint(e.name,
                                               cache_dir=args.cache_dir)))
  except zoo.ZooError as e:
    # One line, exit status 1: the convention of every CLI (deeplab_tf/cli.py;
    # argparse reports a bad command line the same way, with status 2).
    print("python -m deeplab_tf.zoo: error: %s" % e, file=sys.stderr)
    return 1
  return 0


if __name__ == "__main__":
  sys.exit(main())
