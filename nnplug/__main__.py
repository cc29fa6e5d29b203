"""``python -m nnplug``: the same as the ``nnplug`` command."""

import sys

from nnplug.cli import main

sys.exit(main())
