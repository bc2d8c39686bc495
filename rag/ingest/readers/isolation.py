"""Reading untrusted PDF, Word and HTML files in worker processes, each job under a time and a memory limit.

A parser of a binary or markup format can be made to spend minutes or gigabytes on a small file (a Word file of
millions of empty paragraphs, a PDF whose compressed content stream inflates to millions of operators). So the
readers of those formats, and the rendering of PDF pages, run in worker processes (``rag.ingest.readers.worker``):

- **memory**: each worker limits its own address space (``RLIMIT_AS``, ``ReadOptions.memory_bytes``); a file
  that needs more kills or stops only the worker, and is skipped as needing more memory than the limit;
- **time**: the parent waits ``ReadOptions.timeout_s`` for a reply, then kills the worker's process group
  (OCR's tesseract with it); the file is skipped as taking longer than the limit;
- **reuse**: workers are kept between files (a Python start and the readers' imports cost about 0.3 s), at
  most ``MAX_WORKERS`` at once; a worker that stays large after a job, or sat idle for ``IDLE_S``, is ended;
- **shutdown**: ``shutdown()`` kills every worker at once; calls in progress and later raise
  ``ExtractionStopped`` (not a reason to skip the file: nothing is recorded about it). ``rag serve`` calls it
  when it is told to stop. Workers also die with their parent (Linux) and stop within their CPU limit.

Replies are JSON, never pickles: a worker that a hostile file took over still cannot run code in the parent.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import json
import logging
import os
import queue
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.errors import RagError
from rag.ingest.readers.base import Extracted, PageSpan, ReadOptions, SectionSpan, UnreadableFile
from rag.ingest.readers.worker import read_frame, write_frame

__all__ = [
    "ISOLATED_KINDS",
    "RENDER_TIMEOUT_S",
    "ExtractionStopped",
    "extract",
    "live_workers",
    "render_page_png",
    "shutdown",
    "workers_started",
]

logger = logging.getLogger(__name__)

ISOLATED_KINDS = frozenset({"pdf", "docx", "html"})  # plain text is decoded in-process: it cannot expand
MAX_WORKERS = max(1, min(4, os.cpu_count() or 1))
IDLE_S = 300.0  # an idle worker is ended after this long (about 50 MB each)
RETIRE_RSS = 256 * 2**20  # a worker still this large after a job is ended rather than kept
MAX_REPLY = 1 << 30  # the largest reply frame accepted from a worker
RENDER_TIMEOUT_S = 15.0  # a page image is waited for in the chat: a normal page takes well under a second
_WORKER = Path(__file__).with_name("worker.py")


class ExtractionStopped(RagError):
    """Extraction was stopped because the process is shutting down (``shutdown()``); the file is not at fault."""


class _Worker:
    def __init__(self, process: subprocess.Popen[bytes], memory: int) -> None:
        self.process, self.memory = process, memory
        self.idle_since = time.monotonic()

    def terminate(self) -> None:
        """Kill the worker and its children (its process group); safe from any thread, the owner reaps it."""
        if self.process.returncode is None:
            with contextlib.suppress(OSError):
                os.killpg(self.process.pid, signal.SIGKILL)

    def kill(self) -> None:
        """Kill the worker and its children, close its pipes and reap it (by the thread that owns it)."""
        self.terminate()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        self.process.wait()

    def reap(self) -> int:
        """Wait (5 s at most) for the worker, which stopped answering, to end; its peak resident bytes (0: unknown)."""
        deadline = time.monotonic() + 5
        peak = 0
        try:
            while time.monotonic() < deadline:
                pid, status, usage = os.wait4(self.process.pid, os.WNOHANG)
                if pid:
                    self.process.returncode = os.waitstatus_to_exitcode(status)
                    peak = int(usage.ru_maxrss) * 1024
                    break
                time.sleep(0.01)
        except ChildProcessError:
            pass  # reaped elsewhere (a poll() from another thread)
        self.kill()
        return peak


class _Spawner:
    """Starts workers from one long-lived thread.

    Linux's death-with-parent signal fires when the *thread* that started a process ends, and the threads that
    ask for extraction (request handlers) come and go.
    """

    def __init__(self) -> None:
        self._jobs: queue.Queue[tuple[Callable[[], _Worker], queue.Queue[_Worker | BaseException]]] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def run(self, job: Callable[[], _Worker]) -> _Worker:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._serve, name="rag-extract-spawner", daemon=True)
                self._thread.start()
        answer: queue.Queue[_Worker | BaseException] = queue.Queue(maxsize=1)
        self._jobs.put((job, answer))
        result = answer.get()
        if isinstance(result, BaseException):
            raise result
        return result

    def _serve(self) -> None:
        while True:
            job, answer = self._jobs.get()
            try:
                answer.put(job())
            except BaseException as exc:  # handed back to the caller's thread
                answer.put(exc)


class _Gone(Exception):
    """The worker was gone before it took the request (it is not the file's fault): try another one."""


@dataclass(frozen=True)
class _Job:
    """What to send, the limits, and words for messages: ``what`` ("reading it") and the timeout's variable."""

    request: dict[str, Any]
    payload: bytes
    timeout_s: float
    memory: int
    what: str
    timeout_variable: str = "RAG_EXTRACT_TIMEOUT"
    wait_s: float | None = None  # how long to wait for a free worker (None: as long as it takes)


class _Pool:
    def __init__(self, size: int) -> None:
        self.size = size
        self.started = 0
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._starting = 0
        self._closed = False
        self._changed = threading.Condition()
        self._spawner = _Spawner()

    def call(self, job: _Job) -> tuple[dict[str, Any], bytes]:
        """Run ``job`` in a worker and return its reply (``{"error": ...}`` included).

        Raises:
            UnreadableFile: It was over the time or memory limit, said the file is unreadable, or crashed.
            ExtractionStopped: ``shutdown()`` was called.
        """
        for attempt in (1, 2):
            worker = self._acquire(job)
            keep = False
            try:
                reply, blob = self._exchange(worker, job)
                keep = int(reply.get("rss", 0)) < RETIRE_RSS
                return reply, blob
            except _Gone:
                if attempt == 2:
                    raise self._failure(worker, job) from None
            finally:
                self._release(worker, keep)
        raise AssertionError("unreachable")

    def _acquire(self, job: _Job) -> _Worker:
        memory = job.memory
        deadline = None if job.wait_s is None else time.monotonic() + job.wait_s
        with self._changed:
            while True:
                if self._closed:
                    raise _stopped()
                self._reap_idle()
                for idle in self._idle:
                    if idle.memory == memory:
                        self._idle.remove(idle)
                        self._busy.add(idle)
                        return idle
                if self._idle and len(self._idle) + len(self._busy) + self._starting >= self.size:
                    self._idle.pop(0).kill()  # an idle worker with another memory limit makes room
                if len(self._busy) + self._starting < self.size:
                    self._starting += 1
                    self.started += 1
                    break
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise UnreadableFile(f"{job.what}: every extraction worker stayed busy for {job.wait_s:g} s")
                self._changed.wait(left)
        worker = None
        try:
            worker = self._spawner.run(lambda: self._start(memory))
        finally:
            with self._changed:
                self._starting -= 1
                if worker is not None and not self._closed:
                    self._busy.add(worker)
                self._changed.notify_all()
        if worker not in self._busy:
            worker.kill()
            raise _stopped()
        return worker

    @staticmethod
    def _start(memory: int) -> _Worker:
        process = subprocess.Popen(
            # -P: the script's folder (rag/ingest/readers, with modules named html and docx) must not shadow the
            # standard library and python-docx.
            [sys.executable, "-P", str(_WORKER), str(memory), str(os.getpid())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            start_new_session=True,  # its own process group: a kill reaches tesseract too
            close_fds=True,
        )
        return _Worker(process, memory)

    def _release(self, worker: _Worker, keep: bool) -> None:
        with self._changed:
            self._busy.discard(worker)
            keep = keep and not self._closed and worker.process.poll() is None
            if keep:
                worker.idle_since = time.monotonic()
                self._idle.append(worker)
            self._changed.notify_all()
        if not keep:
            worker.kill()

    def _reap_idle(self) -> None:
        now = time.monotonic()
        for worker in [w for w in self._idle if now - w.idle_since > IDLE_S or w.process.poll() is not None]:
            self._idle.remove(worker)
            worker.kill()

    def _exchange(self, worker: _Worker, job: _Job) -> tuple[dict[str, Any], bytes]:
        stdin, stdout = worker.process.stdin, worker.process.stdout
        assert stdin is not None and stdout is not None
        deadline = time.monotonic() + job.timeout_s
        try:
            write_frame(stdin, json.dumps({**job.request, "timeout_s": job.timeout_s}).encode("utf-8"))
            write_frame(stdin, job.payload)
            stdin.flush()
        except (OSError, ValueError):
            if self._closed:
                raise _stopped() from None
            raise _Gone() from None
        try:
            if not _wait_readable(stdout.fileno(), deadline):
                worker.kill()
                if self._closed:
                    raise _stopped()
                hint = f" ({job.timeout_variable})" if job.timeout_variable else ""
                raise UnreadableFile(f"{job.what} took longer than {job.timeout_s:g} s, the time limit{hint}; stopped")
            header = read_frame(stdout, MAX_REPLY)
            blob = read_frame(stdout, MAX_REPLY) if header is not None else None
        except (OSError, ValueError):  # ValueError: a pipe closed under us
            header = blob = None
        if header is None or blob is None:
            raise self._failure(worker, job)
        try:
            reply = json.loads(header)
        except ValueError:
            reply = None
        if not isinstance(reply, dict):
            raise UnreadableFile(f"{job.what} failed: the worker's reply was not understood")
        if "unreadable" in reply:
            raise UnreadableFile(str(reply["unreadable"]))
        if "memory" in reply:
            raise UnreadableFile(_over_memory(job))
        return reply, blob

    def _failure(self, worker: _Worker, job: _Job) -> Exception:
        """Why a worker ended without replying: shut down, out of memory, or crashed."""
        if self._closed:
            worker.kill()
            return _stopped()
        peak = worker.reap()
        code = worker.process.returncode
        # PDFium aborts when an allocation fails under the address-space limit: a crash near the limit is that.
        if peak >= worker.memory // 2:
            return UnreadableFile(_over_memory(job))
        cause = f"signal {signal.Signals(-code).name}" if code is not None and code < 0 else f"exit code {code}"
        logger.debug("an extraction worker ended without replying (%s, peak %d bytes)", cause, peak)
        return UnreadableFile(f"{job.what} failed: the reader process crashed ({cause})")

    def shutdown(self) -> None:
        with self._changed:
            self._closed = True
            idle, busy = self._idle, list(self._busy)
            self._idle = []
            self._changed.notify_all()
        for worker in idle:
            worker.kill()
        for worker in busy:
            worker.terminate()  # the thread waiting on it sees it end, says why, and reaps it

    def live(self) -> list[int]:
        with self._changed:
            workers = [*self._idle, *self._busy]
        return [w.process.pid for w in workers if w.process.returncode is None]


def _stopped() -> ExtractionStopped:
    return ExtractionStopped("extraction stopped: the process is shutting down")


def _wait_readable(fd: int, deadline: float) -> bool:
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        readable, _, _ = select.select([fd], [], [], min(left, 1.0))
        if readable:
            return True


def _over_memory(job: _Job) -> str:
    return f"{job.what} needs more memory than the limit of {job.memory // 2**20:,} MB (RAG_EXTRACT_MEMORY_MB); stopped"


_POOL = _Pool(MAX_WORKERS)


def _forget_after_fork() -> None:
    # A forked child must not share its parent's workers (their pipes would carry both processes' requests),
    # nor kill them when it exits: it starts a pool of its own.
    global _POOL
    _POOL = _Pool(MAX_WORKERS)


os.register_at_fork(after_in_child=_forget_after_fork)


def extract(kind: str, data: bytes, options: ReadOptions) -> Extracted:
    """Run the ``kind`` reader on ``data`` in a worker, within ``options``' time and memory limits.

    Raises:
        UnreadableFile: The file cannot be read, is over a limit, or made the reader fail; the message says which.
        ExtractionStopped: ``shutdown()`` was called.
    """
    request = {"op": "read", "kind": kind, "options": dataclasses.asdict(options)}
    reply, _ = _POOL.call(_Job(request, data, options.timeout_s, options.memory_bytes, "reading it"))
    if "error" in reply:
        raise UnreadableFile(f"corrupt or unreadable {kind} file ({reply['error']})")
    return Extracted(
        reply["text"],
        reply["kind"],
        tuple(PageSpan(int(s), int(e), int(n), label) for s, e, n, label in reply["pages"]),
        tuple(SectionSpan(int(s), int(e), str(title)) for s, e, title in reply["sections"]),
    )


def render_page_png(
    path: Path | str, number: int, ranges: list[tuple[int, int]], *, scale: float, max_px: int, memory_bytes: int
) -> bytes:
    """Page ``number`` of the PDF at ``path`` as a PNG, PDFium characters ``ranges`` highlighted, in a worker.

    ``scale`` is pixels per point, lowered so that the longest side is at most ``max_px`` pixels.

    Raises:
        UnreadableFile: The page cannot be rendered, or not within ``RENDER_TIMEOUT_S`` and ``memory_bytes``.
        ExtractionStopped: ``shutdown()`` was called.
    """
    request = {
        "op": "render",
        "path": str(Path(path).resolve()),
        "page": number,
        "ranges": [list(r) for r in ranges],
        "scale": scale,
        "max_px": max_px,
    }
    # A chat answer waits for its page image: it does not queue behind files being indexed for minutes.
    job = _Job(request, b"", RENDER_TIMEOUT_S, memory_bytes, f"rendering page {number}", "", RENDER_TIMEOUT_S)
    reply, png = _POOL.call(job)
    if "error" in reply:
        raise UnreadableFile(f"rendering page {number} failed ({reply['error']})")
    return png


def shutdown() -> None:
    """Kill every worker now; extractions in progress and later ones raise ``ExtractionStopped``."""
    _POOL.shutdown()


atexit.register(shutdown)


def workers_started() -> int:
    """How many worker processes this process has started."""
    return _POOL.started


def live_workers() -> list[int]:
    """The process ids of the workers running now."""
    return _POOL.live()
