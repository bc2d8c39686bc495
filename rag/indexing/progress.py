"""Progress of an indexing job that a person can trust: files and chunks done, their rate, the time left.

``ProgressTracker`` counts what indexing has done and sends an ``IndexProgress`` to a callback after every
step of work and, from a ticker thread, at least every ``TICK_S`` seconds whatever the work is doing (a slow
file, a long batch), so a bar never sits still for longer than that while the job runs. ``tqdm_reporter``
turns those events into the CLI's progress bar on a terminal; without one (piped, under a service manager,
where a bar is hidden) ``log_reporter`` logs one line at least every ``LOG_EVERY_S`` seconds instead, so long
work is never silent. The chat turns them into Gradio progress.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

__all__ = [
    "LOG_EVERY_S",
    "TICK_S",
    "IndexProgress",
    "ProgressCallback",
    "ProgressTracker",
    "log_reporter",
    "tqdm_reporter",
]

TICK_S = 0.5  # the longest gap between two events while a job runs
LOG_EVERY_S = 10.0  # without a terminal: the longest gap between two logged progress lines

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class IndexProgress:
    """Where an indexing job stands.

    Attributes:
        files_done: Files whose chunks are embedded and committed to the index.
        files_total: Files this job has to embed.
        chunks_done: Chunks embedded so far (committed or not).
        chunks_total: Chunks this job has to embed.
        elapsed_s: Seconds since the job started embedding.
        resumed_files: Files an interrupted earlier run had already committed (not counted above).
        finished: True for the last event of the job.
    """

    files_done: int
    files_total: int
    chunks_done: int
    chunks_total: int
    elapsed_s: float
    resumed_files: int = 0
    finished: bool = False

    @property
    def rate(self) -> float:
        """Chunks embedded per second so far (0 before the first)."""
        return self.chunks_done / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def eta_s(self) -> float | None:
        """Estimated seconds left, from the rate so far; None until there is a rate."""
        if self.finished or self.chunks_done >= self.chunks_total:
            return 0.0
        rate = self.rate
        return (self.chunks_total - self.chunks_done) / rate if rate > 0 else None

    @property
    def fraction(self) -> float:
        """Share of the chunks done, 0 to 1 (1 when there is nothing to embed)."""
        return self.chunks_done / self.chunks_total if self.chunks_total else 1.0

    def describe(self) -> str:
        """One line for humans: ``3/10 files, 120/400 chunks, 21.5 chunks/s, about 13 s left``."""
        eta = self.eta_s
        left = "estimating time left" if eta is None else f"about {_duration(eta)} left"
        if self.finished:
            left = f"took {_duration(self.elapsed_s)}"
        resumed = f" ({self.resumed_files} already indexed earlier)" if self.resumed_files else ""
        return (
            f"{self.files_done}/{self.files_total} files{resumed}, {self.chunks_done}/{self.chunks_total} chunks, "
            f"{self.rate:.1f} chunks/s, {left}"
        )


ProgressCallback = Callable[[IndexProgress], None]


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class ProgressTracker:
    """Counts an indexing job's work and reports it to ``callback`` (thread-safe; one event at a time)."""

    def __init__(
        self, callback: ProgressCallback | None, files_total: int, chunks_total: int, resumed_files: int = 0
    ) -> None:
        self._callback = callback
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self.files_total, self.chunks_total, self.resumed_files = files_total, chunks_total, resumed_files
        self.files_done = 0
        self.chunks_done = 0

    def snapshot(self, finished: bool = False) -> IndexProgress:
        """The job's state now."""
        return IndexProgress(
            self.files_done,
            self.files_total,
            self.chunks_done,
            self.chunks_total,
            time.monotonic() - self._started,
            self.resumed_files,
            finished,
        )

    def add(self, *, chunks: int = 0, files: int = 0) -> None:
        """Count work done, and report it."""
        with self._lock:
            self.chunks_done += chunks
            self.files_done += files
        self.emit()

    def emit(self, finished: bool = False) -> None:
        """Send the current state to the callback."""
        if self._callback is None:
            return
        with self._lock:
            self._callback(self.snapshot(finished))

    @contextmanager
    def ticking(self) -> Iterator[ProgressTracker]:
        """Run the job inside this: a ticker reports every ``TICK_S`` seconds until it ends, then a last event."""
        stop = threading.Event()

        def tick() -> None:
            while not stop.wait(TICK_S):
                self.emit()

        ticker = threading.Thread(target=tick, name="rag-progress", daemon=True)
        if self._callback is not None:
            ticker.start()
        self.emit()
        try:
            yield self
        finally:
            stop.set()
            if ticker.is_alive():
                ticker.join()
        self.emit(finished=True)


def log_reporter(
    every_s: float = LOG_EVERY_S, clock: Callable[[], float] = time.monotonic
) -> tuple[ProgressCallback, Callable[[], None]]:
    """A callback that logs ``Indexing: 3/10 files, 120/400 chunks, 21.5 chunks/s, about 13 s left``.

    It logs the first event, then at most one line per ``every_s`` seconds (the tracker's ticker sends events
    twice a second, so the gap is never much longer), and the last.
    """
    last: float | None = None

    def report(event: IndexProgress) -> None:
        nonlocal last
        now = clock()
        if event.finished or last is None or now - last >= every_s:
            last = now
            logger.info("Indexing%s: %s", " finished" if event.finished else "", event.describe())

    return report, lambda: None


def tqdm_reporter() -> tuple[ProgressCallback, Callable[[], None]]:
    """A callback that draws events as a tqdm bar on stderr (chunks, with files in its postfix), and a closer.

    tqdm shows the rate and time left itself. When stderr is not a terminal a bar would be hidden (tqdm's
    ``disable=None``), so this is ``log_reporter`` there instead.
    """
    if not sys.stderr.isatty():
        return log_reporter()
    from tqdm.auto import tqdm

    bar: Any = None

    def report(event: IndexProgress) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=event.chunks_total, desc="Indexing", unit="chunk", disable=None, leave=False)
        bar.n = event.chunks_done
        done = f"{event.files_done}/{event.files_total}"
        bar.set_postfix_str(f"files {done}" + (f", {event.resumed_files} resumed" if event.resumed_files else ""))
        bar.refresh()

    def close() -> None:
        if bar is not None:
            bar.close()

    return report, close
