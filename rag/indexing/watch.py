"""Following a docs folder: a running bot indexes files as they are added, changed or removed.

``DocsWatcher`` runs in a background thread. It waits for file-system events with ``watchfiles`` (inotify on
Linux, FSEvents on macOS: no CPU while nothing happens), lets a burst of changes settle for ``debounce_s``, then
calls ``Bot.refresh()``, which embeds only what changed. Without ``watchfiles`` (or with ``poll_s`` set) it
polls instead: every ``poll_s`` seconds a refresh compares sizes and times, reading no unchanged file.

Questions asked during a refresh are answered from the previous index, which the new one replaces whole. A
refresh that fails (a folder that vanished, a full disk) leaves the previous index in use and is logged; a file
whose new version cannot be read keeps its previous version (``IndexReport.kept``). Both are kept in
``last_report`` / ``last_error`` for the chat to show.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from rag.config import Settings
from rag.errors import RagError
from rag.indexing.refresh import IndexReport

__all__ = ["DocsWatcher", "Refreshable"]

logger = logging.getLogger(__name__)

DEBOUNCE_S = 1.0  # a change "settles" once no other event came for this long
POLL_S = 2.0  # the polling fallback's interval


class Refreshable(Protocol):
    """What the watcher needs of a bot (a ``rag.Bot`` is one): its settings, for the docs folder, and ``refresh``."""

    @property
    def settings(self) -> Settings:
        """The bot's settings; ``settings.docs_dir`` is the folder watched."""
        ...

    def refresh(self) -> IndexReport:
        """Bring the index up to date with the docs folder."""
        ...


class DocsWatcher:
    """Keeps ``bot``'s index in step with its docs folder until ``stop()``.

    Example:
        >>> watcher = DocsWatcher(bot).start()   # doctest: +SKIP
        >>> ...                                  # files dropped into bot.settings.docs_dir are answered from
        >>> watcher.stop()
    """

    def __init__(
        self,
        bot: Refreshable,
        *,
        debounce_s: float = DEBOUNCE_S,
        poll_s: float | None = None,
        on_refresh: Callable[[IndexReport], None] | None = None,
    ) -> None:
        """Watch ``bot.settings.docs_dir``; ``poll_s`` forces polling at that interval instead of events."""
        self.bot = bot
        self.folder = Path(bot.settings.docs_dir)
        self.debounce_s = debounce_s
        self.poll_s = poll_s
        self.on_refresh = on_refresh
        self.last_report: IndexReport | None = None
        self.last_error: str | None = None
        self.refreshes = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.mode = "polling" if poll_s is not None else "events"

    def start(self) -> DocsWatcher:
        """Start watching in a daemon thread; returns ``self``."""
        if self.poll_s is None:
            try:
                import watchfiles  # noqa: F401
            except ImportError:
                logger.warning("watchfiles is not installed: polling %s every %.0f s instead", self.folder, POLL_S)
                self.poll_s, self.mode = POLL_S, "polling"
        self._thread = threading.Thread(target=self._run, name="rag-docs-watcher", daemon=True)
        self._thread.start()
        logger.info("following %s for changes (%s)", self.folder, self.mode)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop watching: no refresh starts after this; waits up to ``timeout`` for one in progress to finish."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def __enter__(self) -> DocsWatcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        # A change made while the bot was loading (before any event could be seen) is caught here.
        self.refresh()
        if self.poll_s is not None:
            while not self._stop.wait(self.poll_s):
                self.refresh()
            return
        import watchfiles

        while not self._stop.is_set():
            try:
                for _changes in watchfiles.watch(
                    self.folder,
                    watch_filter=self._is_document_event,
                    debounce=int(self.debounce_s * 1000),
                    step=50,
                    stop_event=self._stop,
                    rust_timeout=1000,
                    yield_on_timeout=False,
                    raise_interrupt=False,
                ):
                    self.refresh()
            except (OSError, RuntimeError) as exc:  # the folder vanished, or the watch limit was reached
                self.last_error = f"watching {self.folder} failed ({exc}); retrying"
                logger.warning("%s", self.last_error)
                if self._stop.wait(POLL_S):
                    return
                self.refresh()

    def _is_document_event(self, change: Any, path: str) -> bool:
        """Events that can change the corpus: document files, and folders (a removed folder removes its files).

        Hidden files and folders are ignored: uploads are written to a hidden temporary name, then renamed.
        """
        from rag.ingest.documents import SUPPORTED_SUFFIXES

        try:
            parts = Path(path).relative_to(self.folder.resolve()).parts
        except ValueError:
            try:
                parts = Path(path).relative_to(self.folder.absolute()).parts
            except ValueError:
                parts = (Path(path).name,)
        if not parts or any(part.startswith(".") for part in parts):
            return False
        name = parts[-1]
        return name.lower().endswith(SUPPORTED_SUFFIXES) or not Path(name).suffix

    def refresh(self) -> IndexReport | None:
        """Bring the index up to date now; never raises (the error is logged and kept in ``last_error``)."""
        started = time.perf_counter()
        try:
            report = self.bot.refresh()
        except (RagError, OSError) as exc:
            if self._stop.is_set():  # stopped mid-refresh (a server shutting down): what was committed stays
                logger.info("stopped following %s during a refresh: %s", self.folder, exc)
                return None
            self.last_error = f"the docs folder could not be indexed, the previous index is still in use: {exc}"
            logger.warning("%s", self.last_error)
            return None
        self.refreshes += 1
        self.last_error = None
        self.last_report = report
        if report.action != "reused":
            logger.info("docs folder changed: %s in %.1f s", report.summary(), time.perf_counter() - started)
        if self.on_refresh is not None:
            self.on_refresh(report)
        return report
