"""``python -m transformer ...``: see :mod:`transformer.cli`."""

import sys

from transformer.cli import main

if __name__ == "__main__":
    sys.exit(main())
