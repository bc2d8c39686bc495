"""Load benchmark: the web chat on loopback under concurrent sessions.

Starts ``rag serve`` on a free 127.0.0.1 port (seed corpus, extractive default), then runs N concurrent
sessions for a bounded time. Each session loops: POST a question to Gradio's REST API for the ``/ask``
endpoint (``/gradio_api/call/ask``), then reads the result stream. Reports requests/s, latency p50/p95/p99
and errors. Target (issue 6): 0 errors and p95 under 1 s with 50 sessions.

    python benchmarks/bench_load.py [--sessions 50] [--seconds 30]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
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


def ask(client: httpx.Client, base: str, question: str) -> dict[str, object]:
    """One /ask call through Gradio's REST API; raises on any failure."""
    posted = client.post(f"{base}/gradio_api/call/ask", json={"data": [question]})
    posted.raise_for_status()
    event_id = posted.json()["event_id"]
    with client.stream("GET", f"{base}/gradio_api/call/ask/{event_id}") as response:
        response.raise_for_status()
        event = None
        for line in response.iter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event in {"complete", "error"}:
                if event == "error":
                    raise RuntimeError(f"server error: {line}")
                result = json.loads(line.split(":", 1)[1])[0]
                if not isinstance(result, dict) or "answer" not in result:
                    raise RuntimeError(f"unexpected result: {result!r}")
                return result
    raise RuntimeError("stream ended without a result")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-load-"))
    shutil.copytree(ROOT / "seeds", work / "docs")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "RAG_DOCS": str(work / "docs"),
        "RAG_INDEX": str(work / "index"),
        "GRADIO_ANALYTICS_ENABLED": "False",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "rag.cli", "serve", "-q", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(base, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        else:
            raise SystemExit("the server did not start within 120 s")
        with httpx.Client(timeout=30) as warm:
            ask(warm, base, QUESTIONS[0])

        latencies: list[float] = []
        errors: list[str] = []
        lock = threading.Lock()
        stop_at = time.monotonic() + args.seconds

        def session(seed: int) -> None:
            rng = random.Random(seed)
            with httpx.Client(timeout=30) as client:
                while time.monotonic() < stop_at:
                    started = time.perf_counter()
                    try:
                        ask(client, base, rng.choice(QUESTIONS))
                        elapsed = time.perf_counter() - started
                        with lock:
                            latencies.append(elapsed)
                    except Exception as exc:  # every failure is counted and reported, none stops the run
                        with lock:
                            errors.append(f"{type(exc).__name__}: {exc}")

        cpu_before = server_cpu_s(server.pid)
        started = time.perf_counter()
        threads = [threading.Thread(target=session, args=(i,)) for i in range(args.sessions)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - started
        server_cpu = server_cpu_s(server.pid) - cpu_before
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)

    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000 if ordered else float("nan")

    print(
        f"Load benchmark: {args.sessions} concurrent sessions for {args.seconds:.0f} s, /ask, extractive, "
        f"{os.cpu_count()} CPU cores\n"
    )
    print("| requests | errors | requests/s | p50 (ms) | p95 (ms) | p99 (ms) |")
    print("|---|---|---|---|---|---|")
    print(
        f"| {len(latencies)} | {len(errors)} | {len(latencies) / wall:.1f} "
        f"| {pct(0.50):.0f} | {pct(0.95):.0f} | {pct(0.99):.0f} |"
    )
    if latencies:
        per_request = server_cpu / len(latencies) * 1000
        print(
            f"\nserver CPU: {server_cpu:.1f} s over {wall:.1f} s wall ({per_request:.1f} ms per request); the rest of"
        )
        print(f"the {os.cpu_count()} cores went to the {args.sessions} client sessions running on the same machine.")
    for message in sorted(set(errors))[:5]:
        print(f"error: {message}")
    verdict = "met" if not errors and pct(0.95) < 1000 else "MISSED"
    print(f"\ntarget: 0 errors and p95 < 1000 ms: {verdict}")


if __name__ == "__main__":
    main()
