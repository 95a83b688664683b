"""`python -m deeplab_tf.complexity`: parameters and Multiply-Adds of one
configuration, or the paper's Tables 3 and 5 (`--paper_tables`).

The model flags are the other CLIs' (deeplab_tf/cli_flags.py: unset means
the paper's model); the remaining ModelOptions fields have flags of their
own here. Errors follow deeplab_tf/cli.py: one line, exit status 2 for a
configuration ModelOptions rejects.
"""

import dataclasses

from absl import app
from absl import flags

from deeplab_tf import cli as cli_lib
from deeplab_tf import cli_flags
from deeplab_tf.config import ModelOptions

PROG = "python -m deeplab_tf.complexity"
FLAGS = flags.FLAGS

# ModelOptions fields that are model flags of every CLI ...
SHARED_FIELDS = cli_flags.MODEL_FLAGS + ("add_image_level_feature",)
cli_flags.define(*SHARED_FIELDS)
# ... and those only this report sets (default: ModelOptions').
_DEFAULTS = {f.name: f.default for f in dataclasses.fields(ModelOptions)}
flags.DEFINE_boolean("aspp_with_concat_projection", None,
                     "ModelOptions.aspp_with_concat_projection (default %r)."
                     % _DEFAULTS["aspp_with_concat_projection"])
for _name in ("divisible_by", "aspp_convs_filters", "decoder_filters"):
  flags.DEFINE_integer(_name, None, "ModelOptions.%s (default %r)."
                       % (_name, _DEFAULTS[_name]))
flags.DEFINE_integer("input_size", 513, "Square input size.")
cli_flags.define("eval_scales", "add_flipped_images")
flags.DEFINE_boolean("paper_tables", False, "Reproduce the Multiply-Adds of "
                     "the paper's Tables 3 and 5 instead.")

OWN_FIELDS = ("aspp_with_concat_projection", "divisible_by",
              "aspp_convs_filters", "decoder_filters")


def options_from_flags() -> ModelOptions:
  """The ModelOptions of the given flags (unset fields: the paper's)."""
  from deeplab_tf.config import parse_decoder_output_stride  # pylint: disable=g-import-not-at-top
  values = {}
  for name in SHARED_FIELDS + OWN_FIELDS:
    value = FLAGS[name].value
    if value is None:
      continue
    if name == "decoder_output_stride":
      value = parse_decoder_output_stride(value)  # None: 'none'
    values[name] = value
  return ModelOptions(**values)


def report(argv):
  """The absl main: prints the counts of the flags' configuration."""
  from deeplab_tf.complexity import count, inference_macs  # pylint: disable=g-import-not-at-top
  from deeplab_tf.complexity import paper  # pylint: disable=g-import-not-at-top
  if len(argv) > 1:
    raise app.UsageError("unexpected arguments: %s" % " ".join(argv[1:]))
  if FLAGS.paper_tables:
    paper.print_tables()
    return 0
  size = FLAGS.input_size
  try:
    scales = tuple(float(s) for s in FLAGS.eval_scales)
  except ValueError as e:
    raise app.UsageError("--eval_scales: %s" % e) from None
  flip = FLAGS.add_flipped_images
  opts = options_from_flags()
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


def main(argv=None) -> int:
  """`report` for the flags in `argv` (without the program name; default
  sys.argv[1:]): 0, or SystemExit(2/1) after one line for a bad flag."""
  import sys  # pylint: disable=g-import-not-at-top
  args = sys.argv[1:] if argv is None else list(argv)
  return cli_lib.call(report, [PROG] + args, prog=PROG)
