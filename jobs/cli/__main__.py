"""``python -m jobs.cli``: the ``stalwart`` command."""

from __future__ import annotations

import sys

from . import main

sys.exit(main())
