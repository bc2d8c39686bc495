"""The ``rag`` command, a door onto the library: it imports ``rag``, and nothing in ``rag``'s stages imports it.

- ``main``: argument parsing and the commands ``index``, ``ask``, ``chat``, ``docs``, ``eval``, ``serve``, ``users``;
- ``format``: how ``rag ask`` prints an answer for people;
- ``chat``: ``rag chat``, a session in the terminal;
- ``docs``: ``rag docs list|show|remove|reindex``.

``rag = "rag.cli:main"`` is the console script, and ``python -m rag.cli`` runs the same (``__main__``).
"""

from rag.cli.main import main

__all__ = ["main"]
