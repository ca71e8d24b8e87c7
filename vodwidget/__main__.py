"""``python -m vodwidget`` is the ``vodwidget`` command."""

import sys

from vodwidget.cli import main

sys.exit(main())
