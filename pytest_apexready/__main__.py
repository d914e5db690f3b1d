"""``python -m pytest_apexready``: the ``apexready`` command line."""

import sys

from .cli import main

sys.exit(main())
