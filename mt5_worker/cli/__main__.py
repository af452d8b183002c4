"""``python -m mt5_worker.cli``: the ``mt5-worker`` console script where it is not installed on the ``PATH`` (a
Windows or Wine Python beside a real terminal, a checkout without ``pip install``)."""

import sys

from mt5_worker.cli.main import main

if __name__ == "__main__":  # importing it (pydoc, autodoc) runs nothing
    sys.exit(main())
