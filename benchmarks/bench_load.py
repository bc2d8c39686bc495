"""Load benchmark: the web chat on loopback under concurrent sessions.

Starts ``rag serve`` on a free 127.0.0.1 port (seed corpus, extractive default), then runs N concurrent
sessions for a bounded time. Each session loops: POST a question to Gradio's REST API for the ``/ask``
endpoint (``/gradio_api/run/ask``, answered with JSON; ``--queued`` goes through Gradio's queue instead, like
the chat page's own events: ``/gradio_api/call/ask``, then the result stream). Each session keeps one session hash, as
a browser tab or gradio_client does; ``--stateless`` sends none, so that every request is a new session.
Reports requests/s, latency p50/p95/p99
and errors. Target (issue 6): 0 errors and p95 under 1 s with 50 sessions.

    python benchmarks/bench_load.py [--sessions 50] [--seconds 30] [--url http://127.0.0.1:7860]

With ``--url`` it drives a server that is already running (for profiling it) instead of starting one.

``--auth`` measures what accounts cost (issue 15): it drives the REST API (``POST /api/ask``) of two servers
started the same way, one with no users file (open) and one with a users file of one account per session,
each session sending its own ``Authorization: Bearer`` token; it prints both rows and the p50 difference.
Both servers run with a question rate limit too high to trip, so its bookkeeping is in both figures.

``--scale-out`` measures several chat processes over one index instead, in one run: a PostgreSQL +
pgvector index (pgserver, in a temporary folder), then 1, 2 and 4 ``rag serve`` processes behind HAProxy
(``server/workers.py``), each driven by 50 and then 200 sessions through Gradio's queue (each session its
own client with its own cookies, as browser tabs are, so HAProxy keeps it on one process). Reports
requests/s, p50/p95/p99, errors, and how busy the machine's cores were (the clients, HAProxy, PostgreSQL
and the workers all share them)::

    python benchmarks/bench_load.py --scale-out [--processes 1,2,4] [--session-counts 50,200] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = [json.loads(line)["question"] for line in (ROOT / "evals" / "qa.jsonl").read_text().splitlines() if line]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) the server process has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def ask_api(client: httpx.AsyncClient, base: str, question: str, token: str | None) -> None:
    """One ``POST /api/ask`` (the REST API beside the chat), with a Bearer token when one is given."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await client.post(f"{base}/api/ask", json={"question": question}, headers=headers)
    response.raise_for_status()
    check_result(response.json())


async def ask(client: httpx.AsyncClient, base: str, question: str, session_hash: str | None, queued: bool) -> None:
    """One /ask call through Gradio's REST API; raises on any failure.

    Direct: one POST to ``/gradio_api/run/ask``, answered with JSON (``/ask`` is not queued). Queued: the
    two-step protocol of queued events (POST ``/gradio_api/call/ask``, then read the result stream), which
    is what the chat page's own events go through.
    ``session_hash`` identifies the session the way a browser tab or gradio_client does; without one, Gradio
    treats every call as a new session and builds its per-session state each time.
    """
    body: dict[str, object] = {"data": [question]}
    if session_hash is not None:
        body["session_hash"] = session_hash
    if not queued:
        response = await client.post(f"{base}/gradio_api/run/ask", json=body)
        response.raise_for_status()
        check_result(response.json()["data"][0])
        return
    posted = await client.post(f"{base}/gradio_api/call/ask", json=body)
    posted.raise_for_status()
    event_id = posted.json()["event_id"]
    async with client.stream("GET", f"{base}/gradio_api/call/ask/{event_id}") as stream:
        stream.raise_for_status()
        event = None
        async for line in stream.aiter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event in {"complete", "error"}:
                if event == "error":
                    raise RuntimeError(f"server error: {line}")
                check_result(json.loads(line.split(":", 1)[1])[0])
                return
    raise RuntimeError("stream ended without a result")


def check_result(result: object) -> None:
    if not isinstance(result, dict) or "answer" not in result:
        raise RuntimeError(f"unexpected result: {result!r}")


@contextlib.contextmanager
def local_server(users: int = 0) -> Iterator[tuple[str, int, list[str]]]:
    """Start ``rag serve`` over a copy of the seeds on a free port; yield its URL, process id and API tokens.

    With ``users`` > 0 it first writes a users file with that many readers (so auth is on), one token each.
    """
    work = Path(tempfile.mkdtemp(prefix="bench-load-"))
    shutil.copytree(ROOT / "seeds", work / "docs")
    port = free_port()
    env = {
        **os.environ,
        "RAG_DOCS": str(work / "docs"),
        "RAG_INDEX": str(work / "index"),
        "RAG_USERS_FILE": str(work / "users.json"),
        "RAG_CHAT_RATE_LIMIT": "1000000",
        "GRADIO_ANALYTICS_ENABLED": "False",
    }
    tokens: list[str] = []
    if users:
        sys.path.insert(0, str(ROOT))
        from server.users import UserStore

        store = UserStore(work / "users.json")
        for i in range(users):
            store.add(f"bench{i}", "reader", f"bench-password-{i}")
            tokens.append(store.issue_token(f"bench{i}"))
    server = subprocess.Popen(
        [sys.executable, "-m", "rag.cli", "serve", "-q", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield f"http://127.0.0.1:{port}", server.pid, tokens
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


def wait_until_up(base: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            # /healthz answers with or without accounts (the chat page itself needs a sign-in when they exist)
            if (
                httpx.get(f"{base}/healthz", timeout=1).status_code == 200
                or httpx.get(base, timeout=1).status_code == 200
            ):
                return
        except httpx.HTTPError:
            time.sleep(0.3)
    raise SystemExit(f"the server at {base} did not answer within 120 s")


async def drive(
    base: str,
    sessions: int,
    seconds: float,
    *,
    stateless: bool,
    queued: bool,
    api: bool = False,
    tokens: list[str] = (),
) -> tuple[list[float], list[str], float]:
    """Run ``sessions`` looping clients for ``seconds``; return latencies (s), errors and wall time.

    The sessions are asyncio tasks in one thread: 50 client threads fighting over the GIL took more CPU
    than the server on these two cores.
    """
    latencies: list[float] = []
    errors: list[str] = []
    stop_at = time.monotonic() + seconds

    async def session(seed: int) -> None:
        rng = random.Random(seed)
        session_hash = None if stateless else f"bench-{seed}-{uuid.uuid4().hex[:8]}"
        async with httpx.AsyncClient(timeout=30) as client:
            while time.monotonic() < stop_at:
                started = time.perf_counter()
                try:
                    if api:
                        await ask_api(client, base, rng.choice(QUESTIONS), tokens[seed] if tokens else None)
                    else:
                        await ask(client, base, rng.choice(QUESTIONS), session_hash, queued)
                    latencies.append(time.perf_counter() - started)
                except Exception as exc:  # every failure is counted and reported, none stops the run
                    errors.append(f"{type(exc).__name__}: {exc}")

    started = time.perf_counter()
    await asyncio.gather(*(session(i) for i in range(sessions)))
    return latencies, errors, time.perf_counter() - started


async def warm_up(base: str) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        await ask(client, base, QUESTIONS[0], None, queued=False)


def measure_auth(sessions: int, seconds: float) -> None:
    """``--auth``: /api/ask on an open server, then on one with accounts and tokens; same settings otherwise."""
    rows = []
    for label, users in (("open (no users file)", 0), ("auth on (Bearer token)", sessions)):
        with local_server(users) as (base, pid, tokens):
            wait_until_up(base)
            asyncio.run(drive(base, 1, 1.0, stateless=True, queued=False, api=True, tokens=tokens[:1]))  # warm-up
            cpu_before = server_cpu_s(pid)
            latencies, errors, wall = asyncio.run(
                drive(base, sessions, seconds, stateless=True, queued=False, api=True, tokens=tokens)
            )
            cpu = server_cpu_s(pid) - cpu_before
        ordered = sorted(latencies)

        def pct(p: float, ordered: list[float] = ordered) -> float:
            return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000 if ordered else float("nan")

        rows.append((label, len(latencies), len(errors), len(latencies) / wall, pct(0.5), pct(0.95), pct(0.99), cpu))
        for message in sorted(set(errors))[:5]:
            print(f"error ({label}): {message}")
    print(
        f"Load benchmark, auth cost: {sessions} concurrent sessions for {seconds:.0f} s each, POST /api/ask, "
        f"extractive, {os.cpu_count()} CPU cores\n"
    )
    print("| server | requests | errors | requests/s | p50 (ms) | p95 (ms) | p99 (ms) | server CPU per request (ms) |")
    print("|---|---|---|---|---|---|---|---|")
    for label, n, errs, rps, p50, p95, p99, cpu in rows:
        print(
            f"| {label} | {n} | {errs} | {rps:.1f} | {p50:.0f} | {p95:.0f} | {p99:.0f} | {cpu / max(n, 1) * 1000:.1f} |"
        )
    (_, _, _, _, open_p50, _, _, open_cpu), (_, n_auth, errs_auth, _, auth_p50, auth_p95, _, auth_cpu) = rows
    n_open = rows[0][1]
    print(
        f"\nauth cost: p50 {auth_p50 - open_p50:+.0f} ms; server CPU per request "
        f"{(auth_cpu / max(n_auth, 1) - open_cpu / max(n_open, 1)) * 1000:+.2f} ms"
    )
    verdict = "met" if not errs_auth and auth_p95 < 1000 else "MISSED"
    print(f"target with auth on: 0 errors and p95 < 1000 ms: {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--url", help="drive this running server instead of starting one")
    parser.add_argument("--queued", action="store_true", help="go through Gradio's queue (/call/ask + stream)")
    parser.add_argument(
        "--stateless", action="store_true", help="send no session hash: every request is a new Gradio session"
    )
    parser.add_argument(
        "--auth", action="store_true", help="POST /api/ask on an open server and on one with tokens; compare"
    )
    parser.add_argument("--scale-out", action="store_true", help="N processes behind HAProxy over one Postgres index")
    parser.add_argument("--processes", default="1,2,4", help="--scale-out: worker process counts")
    parser.add_argument("--session-counts", default="50,200", help="--scale-out: concurrent session counts")
    args = parser.parse_args()
    if args.auth:
        measure_auth(args.sessions, args.seconds)
        return
    if args.scale_out:
        scale_out(
            [int(n) for n in args.processes.split(",")], [int(n) for n in args.session_counts.split(",")], args.seconds
        )
        return

    with contextlib.ExitStack() as stack:
        base, pid = (args.url.rstrip("/"), None) if args.url else stack.enter_context(local_server())[:2]
        wait_until_up(base)
        asyncio.run(warm_up(base))
        cpu_before = server_cpu_s(pid) if pid else 0.0
        client_before = time.process_time()
        latencies, errors, wall = asyncio.run(
            drive(base, args.sessions, args.seconds, stateless=args.stateless, queued=args.queued)
        )
        server_cpu = server_cpu_s(pid) - cpu_before if pid else None
        client_cpu = time.process_time() - client_before

    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000 if ordered else float("nan")

    mode = "a new Gradio session per request" if args.stateless else "one Gradio session each"
    mode += ", through the queue" if args.queued else ", direct POST /gradio_api/run/ask"
    print(
        f"Load benchmark: {args.sessions} concurrent sessions for {args.seconds:.0f} s, /ask, extractive, "
        f"{os.cpu_count()} CPU cores, {mode}\n"
    )
    print("| requests | errors | requests/s | p50 (ms) | p95 (ms) | p99 (ms) |")
    print("|---|---|---|---|---|---|")
    print(
        f"| {len(latencies)} | {len(errors)} | {len(latencies) / wall:.1f} "
        f"| {pct(0.50):.0f} | {pct(0.95):.0f} | {pct(0.99):.0f} |"
    )
    if latencies and server_cpu is not None:
        per_request = server_cpu / len(latencies) * 1000
        print(
            f"\nserver CPU: {server_cpu:.1f} s over {wall:.1f} s wall ({per_request:.1f} ms per request); the rest of"
        )
        print(f"the {os.cpu_count()} cores went to the {args.sessions} client sessions running on the same machine")
        print(f"({client_cpu:.1f} s of CPU, {client_cpu / len(latencies) * 1000:.1f} ms per request).")
    for message in sorted(set(errors))[:5]:
        print(f"error: {message}")
    verdict = "met" if not errors and pct(0.95) < 1000 else "MISSED"
    print(f"\ntarget: 0 errors and p95 < 1000 ms: {verdict}")


def machine_busy_s() -> tuple[float, float]:
    """CPU seconds the whole machine has been busy and idle so far (all cores), from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(fields[:8]) - idle) / tick, idle / tick


def scale_out(processes: list[int], session_counts: list[int], seconds: float) -> None:
    """1, 2, 4 ... ``rag serve`` processes behind HAProxy over one Postgres index, each under each session count."""
    import pgserver

    sys.path.insert(0, str(ROOT))
    from server.workers import running_workers

    work = Path(tempfile.mkdtemp(prefix="bench-scale-out-"))
    shutil.copytree(ROOT / "seeds", work / "docs")
    database = pgserver.get_server(work / "pgdata", cleanup_mode="stop")
    env = {
        **os.environ,
        "RAG_DOCS": str(work / "docs"),
        "RAG_INDEX": str(work / "index"),
        "RAG_VECTOR_BACKEND": "postgres",
        "RAG_PG_DSN": database.get_uri(),
        "GRADIO_ANALYTICS_ENABLED": "False",
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    rows = []
    try:
        subprocess.run([sys.executable, "-m", "rag.cli", "index", "-q"], env=env, check=True)
        for count in processes:
            with running_workers(count, serve_args=["-q"], env=env, quiet=True) as workers:
                for _ in range(2 * count):
                    asyncio.run(warm_up(workers.url))
                for sessions in session_counts:
                    busy_before, idle_before = machine_busy_s()
                    client_before = time.process_time()
                    latencies, errors, wall = asyncio.run(
                        drive(workers.url, sessions, seconds, stateless=False, queued=True)
                    )
                    busy_after, idle_after = machine_busy_s()
                    busy = busy_after - busy_before
                    share = busy / max(busy + idle_after - idle_before, 1e-9)
                    rows.append((count, sessions, latencies, errors, wall, share, time.process_time() - client_before))
                    print(
                        f"{count} process(es), {sessions} sessions: {len(latencies) / wall:.1f} requests/s", flush=True
                    )
    finally:
        database.cleanup()
        shutil.rmtree(work, ignore_errors=True)

    print(
        f"\nScale-out: rag serve processes behind HAProxy over one Postgres index, {seconds:.0f} s per row, "
        f"Gradio's queue (/call/ask + stream), extractive, {os.cpu_count()} CPU cores shared by everything\n"
    )
    print(
        "| processes | sessions | requests | errors | requests/s | p50 (ms) | p95 (ms) | p99 (ms) "
        "| cores busy | client CPU |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for count, sessions, latencies, errors, wall, share, client_cpu in rows:
        ordered = sorted(latencies)

        def pct(p: float, ordered: list[float] = ordered) -> float:
            return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000 if ordered else float("nan")

        print(
            f"| {count} | {sessions} | {len(latencies)} | {len(errors)} | {len(latencies) / wall:.1f} "
            f"| {pct(0.50):.0f} | {pct(0.95):.0f} | {pct(0.99):.0f} | {share:.0%} | {client_cpu / wall:.0%} of a core |"
        )
        for message in sorted(set(errors))[:3]:
            print(f"error ({count} processes, {sessions} sessions): {message}")


if __name__ == "__main__":
    main()
