"""``python -m gradtrack``: the same as the ``gradtrack`` command (see :mod:`gradtrack.cli`)."""

from __future__ import annotations

import sys

from gradtrack.cli import main

if __name__ == "__main__":
    sys.exit(main())
