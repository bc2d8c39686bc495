"""The ``Library``: every collection of a registry as a ``Bot``, loaded on first use, behind one access check.

``Library.open(name, reader)`` is the only way a door reaches a collection's bot: it asks the registry
whether ``reader`` may read ``name`` before anything else, and a collection they may not read raises the
same ``CollectionNotFound`` as one that does not exist, before any index is touched (no count, no name, no
load to time). Each collection has its own index, so a search in one cannot reach another's chunks: the
restriction is the search space itself, not a filter on its results.

Bots are loaded lazily, once, and share the embedding model (``rag.embeddings`` caches it), so memory grows
with the collections actually asked, not with the registry.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from rag.bot.bot import Bot
from rag.bot.registry import DEFAULT, Reader, Registry, settings_for
from rag.config import Settings

__all__ = ["Library"]

logger = logging.getLogger(__name__)

Loader = Callable[[Settings], Bot]


def _load(settings: Settings) -> Bot:
    from rag.bot.load import load

    return load(settings=settings, progress=False)


class Library:
    """The collections of ``settings.collections_file``; ``default`` is ``default_bot`` when one is given.

    Example:
        >>> library = Library(Settings.from_env())
        >>> library.open("hr", Reader("ann", frozenset({"hr"}))).ask("How many leave days?")  # doctest: +SKIP
    """

    def __init__(self, settings: Settings, default_bot: Bot | None = None, loader: Loader = _load) -> None:
        self.settings = settings
        self.registry = Registry.of(settings)
        self._loader = loader
        self._bots: dict[str, Bot] = {DEFAULT: default_bot} if default_bot is not None else {}
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}
        self.registry.collections()  # a damaged or overlapping registry fails here, at start

    def readable(self, reader: Reader) -> list[str]:
        """The collections ``reader`` may read, ``default`` first."""
        return self.registry.readable(reader)

    def can_read(self, reader: Reader, name: str) -> bool:
        """Whether ``reader`` may read ``name`` (False for an unknown name as well)."""
        return self.registry.can_read(reader, name)

    def open(self, name: str, reader: Reader) -> Bot:
        """The bot of collection ``name``, loading it on first use, if ``reader`` may read it.

        Raises:
            CollectionNotFound: No such collection, or ``reader`` may not read it (the same error, on purpose).
        """
        entry = self.registry.require(reader, name)
        bot = self._bots.get(entry.name)
        if bot is not None:
            return bot
        with self._lock:
            gate = self._loading.setdefault(entry.name, threading.Lock())
        with gate:  # one load per collection, while other collections load or answer meanwhile
            bot = self._bots.get(entry.name)
            if bot is None:
                logger.info("loading collection %s", entry.name)
                bot = self._loader(settings_for(self.settings, entry))
                self._bots[entry.name] = bot
        return bot

    @property
    def loaded(self) -> list[str]:
        """The collections loaded so far."""
        return sorted(self._bots)

    def forget(self, name: str) -> None:
        """Drop a loaded collection (removed from the registry): its next ``open`` loads it afresh."""
        self._bots.pop(name, None)
