"""`python -m deeplab_tf.complexity`: parameters and Multiply-Adds of one
configuration, or the paper's Tables 3 and 5 (`--paper_tables`)."""

import argparse
import dataclasses

from deeplab_tf.complexity import count, inference_macs
from deeplab_tf.complexity import paper
from deeplab_tf.config import ModelOptions


def _parse_value(text: str, field: dataclasses.Field):
  if text.lower() in ("none", "null", ""):
    return None
  if field.type is bool or isinstance(field.default, bool):
    if text.lower() in ("1", "true", "yes"):
      return True
    if text.lower() in ("0", "false", "no"):
      return False
    raise argparse.ArgumentTypeError("%s expects true/false" % field.name)
  if isinstance(field.default, tuple) or "Tuple" in str(field.type):
    return tuple(int(v) for v in text.split(","))
  if isinstance(field.default, float):
    return float(text)
  if isinstance(field.default, int) or "int" in str(field.type):
    return int(text)
  return text


def _parser() -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(
      prog="python -m deeplab_tf.complexity",
      description="Parameters and Multiply-Adds of a DeepLab configuration.")
  for f in dataclasses.fields(ModelOptions):
    p.add_argument("--" + f.name, default=argparse.SUPPRESS,
                   type=lambda t, f=f: _parse_value(t, f),
                   help="ModelOptions.%s (default %r; lists comma-separated,"
                   " 'none' for None)" % (f.name, f.default))
  p.add_argument("--input_size", type=int, default=513,
                 help="square input size (default 513)")
  p.add_argument("--eval_scales", default="1.0",
                 help="comma-separated input scales, e.g. "
                 "0.5,0.75,1.0,1.25,1.5,1.75")
  p.add_argument("--add_flipped_images", action="store_true")
  p.add_argument("--paper_tables", action="store_true",
                 help="reproduce the Multiply-Adds of the paper's Tables 3 "
                 "and 5 instead")
  return p


def main(argv=None):
  parser = _parser()
  args = vars(parser.parse_args(argv))
  if args.pop("paper_tables"):
    paper.print_tables()
    return 0
  size = args.pop("input_size")
  scales = tuple(float(s) for s in args.pop("eval_scales").split(","))
  flip = args.pop("add_flipped_images")
  try:
    opts = ModelOptions(**args)
  except ValueError as e:
    parser.error(str(e))  # one line and exit status 2, no traceback
  c = count(opts, (size, size))
  print(opts.to_json())
  print("input %dx%d, batch 1" % (size, size))
  print("parameters          %14d" % c.params)
  print("conv Multiply-Adds  %14.4f B" % (c.conv_macs / 1e9))
  print("paper-method        %14.4f B  (network %.4f + variable ops %.4f"
        " + argmax %.4f)" % (c.paper_total / 1e9, c.paper_macs / 1e9,
                             c.variable_macs / 1e9, c.head_macs / 1e9))
  for kind, macs in sorted(c.by_kind.items(), key=lambda kv: -kv[1]):
    print("  %-26s %12.4f B" % (kind, macs / 1e9))
  if c.uncounted:
    print("not counted (unknown layer types): %s" % ", ".join(c.uncounted))
  if scales != (1.0,) or flip:
    r = inference_macs(opts, size, scales, flip)
    print("evaluation scales %s%s: paper-method %.2f B, conv %.2f B"
          % (",".join(map(str, scales)), " + flip" if flip else "",
             r["paper"] / 1e9, r["conv"] / 1e9))
  return 0
