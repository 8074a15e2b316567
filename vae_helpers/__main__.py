"""``python -m vae_helpers``: see :mod:`vae_helpers.cli`."""

import sys

from .cli import main

sys.exit(main())
