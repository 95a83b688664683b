"""`python -m deeplab_tf.complexity` (see cli.py): quiet like every CLI."""

import sys

from deeplab_tf import cli as cli_setup

cli_setup.quiet_tensorflow()  # before TensorFlow is imported
cli_setup.setup_logging()

from deeplab_tf.complexity.cli import main  # pylint: disable=g-import-not-at-top,wrong-import-position

sys.exit(main())
