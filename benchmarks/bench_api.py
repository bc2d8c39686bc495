"""What the OpenAI-compatible door costs: ``POST /v1/chat/completions`` beside ``POST /api/ask``, same run.

Starts ``rag serve`` on a free loopback port (seed corpus, extractive default, accounts on with one reader's
Bearer token, no rate limit), then asks the same question through each door in turn, one request at a time
(interleaved, so both see the same machine), and reports p50/p95 latency per door and the difference in
p50. The streamed completion is timed to its ``[DONE]``. Target (issue 25): ``/v1`` adds at most 5 ms p50.

    python benchmarks/bench_api.py [--rounds 300] [--url http://127.0.0.1:7860 --token TOKEN]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from server.users import UserStore  # noqa: E402
from tests.server_fixtures import free_port  # noqa: E402

QUESTION = "Who signed the KT-Microsoft agreement, and where?"


@contextmanager
def started_server() -> Iterator[tuple[str, str]]:
    """``rag serve`` over the seeds with one reader; yields its URL and the reader's token."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        store = UserStore(root / "users.json")
        store.add("bench", "reader", "bench-password")
        token = store.issue_token("bench")
        port = free_port()
        env = {**os.environ, "RAG_USERS_FILE": str(root / "users.json"), "HF_HUB_OFFLINE": "1"}
        env |= {"RAG_DOCS": str(ROOT / "seeds"), "RAG_INDEX": str(root / "index")}
        command = [sys.executable, "-m", "rag.cli", "serve", "-q", "--port", str(port), "--rate-limit", "0"]
        process = subprocess.Popen([*command, "--no-watch"], cwd=ROOT, env=env)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.3)
            else:
                raise SystemExit("rag serve did not start")
            yield base, token
        finally:
            process.terminate()
            process.wait(timeout=30)


def doors(client: httpx.Client) -> dict[str, Callable[[], None]]:
    """Each door asked the same question; each call checks its reply, so an error cannot pass for speed."""
    chat = {"model": "rag", "messages": [{"role": "user", "content": QUESTION}]}

    def api() -> None:
        reply = client.post("/api/ask", json={"question": QUESTION})
        assert reply.status_code == 200 and reply.json()["citations"], reply.text

    def v1() -> None:
        reply = client.post("/v1/chat/completions", json=chat)
        assert reply.status_code == 200 and reply.json()["citations"], reply.text

    def v1_stream() -> None:
        with client.stream("POST", "/v1/chat/completions", json={**chat, "stream": True}) as reply:
            lines = [line for line in reply.iter_lines() if line]
        assert reply.status_code == 200 and lines[-1] == "data: [DONE]" and '"citations"' in lines[-2]

    return {"POST /api/ask": api, "POST /v1/chat/completions": v1, "POST /v1/chat/completions (stream)": v1_stream}


def measure(base: str, token: str, rounds: int) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {}
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
        calls = doors(client)
        for call in calls.values():  # warm-up: first requests pay for imports and caches
            for _ in range(5):
                call()
        for _ in range(rounds):
            for name, call in calls.items():
                started = time.perf_counter()
                call()
                timings.setdefault(name, []).append((time.perf_counter() - started) * 1000)
    return timings


def report(timings: dict[str, list[float]]) -> None:
    print("| door | requests | p50 (ms) | p95 (ms) |")
    print("|---|---|---|---|")
    p50 = {}
    for name, values in timings.items():
        cuts = statistics.quantiles(values, n=100)
        p50[name] = statistics.median(values)
        print(f"| {name} | {len(values)} | {p50[name]:.2f} | {cuts[94]:.2f} |")
    base = p50["POST /api/ask"]
    for name, value in p50.items():
        if name != "POST /api/ask":
            print(f"{name}: {value - base:+.2f} ms p50 over POST /api/ask (target: at most +5 ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--url", help="a running rag serve (needs --token when it has accounts)")
    parser.add_argument("--token", default="")
    args = parser.parse_args()
    if args.url:
        report(measure(args.url, args.token, args.rounds))
        return
    with started_server() as (base, token):
        report(measure(base, token, args.rounds))


if __name__ == "__main__":
    main()
