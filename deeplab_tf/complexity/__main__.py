"""`python -m deeplab_tf.complexity` (see cli.py)."""

import sys

from deeplab_tf.complexity.cli import main

sys.exit(main())
