"""python -m sandbox up | down | status | deps"""

import sys

from .cli import main

sys.exit(main())
