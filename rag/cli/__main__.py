"""``python -m rag.cli``: the ``rag`` command."""

import sys

from rag.cli.main import main

sys.exit(main())
