"""``python -m mt5_worker.cli``: the ``mt5-worker`` console script where it is not installed on the ``PATH`` (a
Windows or Wine Python beside a real terminal, a checkout without ``pip install``)."""

import sys

from mt5_worker.cli.main import main

sys.exit(main())
