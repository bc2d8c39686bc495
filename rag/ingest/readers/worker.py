"""The extraction worker: a child process that reads untrusted files one at a time, under limits of its own.

``rag.ingest.readers.isolation`` starts it as ``python -P rag/ingest/readers/worker.py MEMORY_BYTES PARENT_PID``
and talks to it over its stdin and stdout in frames (an 8-byte big-endian length, then the bytes). Each request is a
JSON header frame and a payload frame; each reply is a JSON frame and a payload frame:

- ``{"op": "read", "kind": "pdf", "options": {...}}`` + the file's bytes -> the ``Extracted`` as JSON;
- ``{"op": "render", "path": ..., "page": n, "ranges": [[s, e], ...], "scale": s, "max_px": p}`` -> a PNG.

A reply is ``{"ok": true, ...}``, ``{"unreadable": reason}`` (the file is at fault), ``{"memory": true}`` (over
the memory limit; the worker exits after saying so) or ``{"error": "Type: message"}``; every reply carries
``rss``, the worker's resident memory after the job, so the parent can retire a worker that stays large.

The limits it sets itself: ``RLIMIT_AS`` (its address space) once at start; ``RLIMIT_CPU`` before each job (the
job's time limit from now, so a worker orphaned mid-job still ends); and, on Linux, death with its parent.
The parent enforces the wall-time limit by killing the worker's process group.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import struct
import sys
from typing import IO, Any

__all__ = ["main", "read_frame", "write_frame"]

_LENGTH = struct.Struct(">Q")


def write_frame(stream: IO[bytes], data: bytes) -> None:
    """Write one frame: its length, then ``data``."""
    stream.write(_LENGTH.pack(len(data)))
    stream.write(data)


def read_frame(stream: IO[bytes], limit: int) -> bytes | None:
    """Read one frame (None at the end of the stream); a frame longer than ``limit`` is an ``OSError``."""
    header = _read_exactly(stream, _LENGTH.size)
    if header is None:
        return None
    (length,) = _LENGTH.unpack(header)
    if length > limit:
        raise OSError(f"a frame of {length:,} bytes is over the limit of {limit:,}")
    data = _read_exactly(stream, length)
    if data is None:
        raise OSError("the stream ended inside a frame")
    return data


def _read_exactly(stream: IO[bytes], size: int) -> bytes | None:
    parts: list[bytes] = []
    left = size
    while left:
        part = stream.read(left)
        if not part:
            if left == size:
                return None
            raise OSError("the stream ended inside a frame")
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def _die_with_parent(parent: int) -> None:
    """Ask Linux to kill this process when its parent dies (PR_SET_PDEATHSIG); elsewhere, do nothing."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def _resident_bytes() -> int:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _release_memory() -> None:
    """Hand freed heap back to the system, so a worker that read one large file does not stay large."""
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None).malloc_trim(0)


def _limit(which: int, value: int) -> None:
    """Set a resource limit, soft and hard, to ``value``, or to the hard limit already in force when lower."""
    _, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    try:
        resource.setrlimit(which, (value, value))
    except (ValueError, OSError) as exc:  # a platform without this limit: the parent's time limit still holds
        print(f"rag extraction worker: cannot set resource limit {which}: {exc}", file=sys.stderr)


def _limit_cpu(seconds: float) -> None:
    used = resource.getrusage(resource.RUSAGE_SELF)
    soft = int(used.ru_utime + used.ru_stime + seconds) + 1
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def _handle(request: dict[str, Any], payload: bytes) -> tuple[dict[str, Any], bytes]:
    from rag.ingest.readers import reader_for
    from rag.ingest.readers.base import ReadOptions

    if request["op"] == "read":
        reader = reader_for(f"file.{request['kind']}")
        if reader is None or reader.kind != request["kind"]:
            raise ValueError(f"no reader for {request['kind']!r}")
        extracted = reader.read(payload, ReadOptions(**request["options"]))
        return {
            "ok": True,
            "text": extracted.text,
            "kind": extracted.kind,
            "pages": [[p.start, p.end, p.number, p.label] for p in extracted.pages],
            "sections": [[s.start, s.end, s.title] for s in extracted.sections],
        }, b""
    if request["op"] == "render":
        from rag.ingest.readers.pdf import render_highlighted

        png = render_highlighted(
            request["path"],
            int(request["page"]),
            [(int(s), int(e)) for s, e in request["ranges"]],
            scale=float(request["scale"]),
            max_px=int(request["max_px"]),
        )
        return {"ok": True}, png
    raise ValueError(f"unknown operation {request['op']!r}")


def main() -> None:
    """Serve requests from stdin until it closes."""
    memory, parent = int(sys.argv[1]), int(sys.argv[2])
    _die_with_parent(parent)
    # The protocol owns the real stdout; anything a library prints goes to stderr instead.
    channel = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    requests = sys.stdin.buffer
    _limit(resource.RLIMIT_AS, memory)
    _limit(resource.RLIMIT_CORE, 0)  # a reader that crashes (PDFium aborts when memory runs out) leaves no core
    from rag.ingest.readers.base import UnreadableFile

    while True:
        header = read_frame(requests, 1 << 20)
        if header is None:
            return
        request = json.loads(header)
        payload = read_frame(requests, 1 << 40) or b""
        _limit_cpu(float(request.get("timeout_s", 600)) + 5)
        exit_after = False
        blob = b""
        try:
            reply, blob = _handle(request, payload)
        except UnreadableFile as exc:
            reply = {"unreadable": str(exc)}
        except MemoryError:
            reply, exit_after = {"memory": True}, True  # the heap may be in pieces: start afresh
        except Exception as exc:  # a parser's own failure on a malformed file
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        del payload
        _release_memory()
        reply["rss"] = _resident_bytes()
        write_frame(channel, json.dumps(reply, ensure_ascii=False).encode("utf-8"))
        write_frame(channel, blob)
        channel.flush()
        if exit_after:
            return


def _bootstrap() -> None:
    """Make ``rag.ingest.readers`` importable without running ``rag/__init__.py`` (the whole pipeline: 3 s, 50 MB)."""
    import types

    package = types.ModuleType("rag")
    package.__path__ = [os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))]
    sys.modules["rag"] = package


if __name__ == "__main__":
    _bootstrap()
    main()
