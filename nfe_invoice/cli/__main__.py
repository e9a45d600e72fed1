"""``python -m nfe_invoice.cli``: the same as the ``nfe-invoice`` command."""

import sys

from . import main

sys.exit(main())
