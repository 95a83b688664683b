"""`python -m deeplab_tf.complexity` (see cli.py): quiet like every CLI."""

from absl import flags

from deeplab_tf import cli as cli_setup
# Not `from deeplab_tf.complexity import cli`: that asks the package's lazy
# __getattr__ first, which loads TensorFlow (and --help would wait for it).
import deeplab_tf.complexity.cli as complexity_cli  # pylint: disable=g-import-not-at-top

flags.adopt_module_key_flags(complexity_cli)  # listed by --help
cli_setup.run(complexity_cli.report, prog=complexity_cli.PROG)
