"""``rag serve --workers N``: real chat processes over one Postgres index, behind a real HAProxy.

The module starts two workers once (each loads the model: about 10 s apiece on two busy cores).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from rag.config import Settings
from rag.embeddings import Embedder
from rag.indexing.postgres import sync_postgres
from server.workers import Workers, haproxy_binary, render_haproxy_config, running_workers
from tests.conftest import SEEDS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def two_workers(
    pg_dsn: str, embedder: Embedder, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Workers, Settings]]:
    try:
        haproxy_binary()
    except RuntimeError as exc:
        pytest.skip(str(exc))
    root = tmp_path_factory.mktemp("workers")
    shutil.copytree(SEEDS, root / "docs")
    settings = Settings(docs_dir=root / "docs", vector_backend="postgres", pg_dsn=pg_dsn, pg_schema="workers")
    sync_postgres(settings, embedder, progress=False)  # built once; the workers only load it
    env = {
        **os.environ,
        "RAG_VECTOR_BACKEND": "postgres",
        "RAG_PG_DSN": pg_dsn,
        "RAG_PG_SCHEMA": "workers",
        "RAG_CACHE_DIR": str(Settings().cache_dir),
    }
    with running_workers(2, serve_args=["-q", "--docs", str(root / "docs")], env=env, quiet=True) as workers:
        yield workers, settings


def _ask_through_the_queue(client: httpx.Client, base: str, question: str) -> tuple[dict[str, object], set[str]]:
    """Gradio's queued protocol (POST /call/ask, then the event stream); returns the result and the workers seen."""
    seen = set()
    posted = client.post(f"{base}/gradio_api/call/ask", json={"data": [question]})
    posted.raise_for_status()
    seen.add(posted.headers["x-rag-worker"])
    with client.stream("GET", f"{base}/gradio_api/call/ask/{posted.json()['event_id']}") as stream:
        stream.raise_for_status()
        seen.add(stream.headers["x-rag-worker"])
        event = None
        for line in stream.iter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event == "complete":
                return json.loads(line.split(":", 1)[1])[0], seen
    raise AssertionError("the stream ended without a result")


def test_a_session_stays_on_one_worker_through_the_streaming_protocol(two_workers: tuple[Workers, Settings]) -> None:
    workers, _ = two_workers
    with httpx.Client(timeout=30) as browser:
        page = browser.get(workers.url + "/")
        assert page.status_code == 200 and "RAGWORKER" in browser.cookies
        first = page.headers["x-rag-worker"]
        for _ in range(3):
            result, seen = _ask_through_the_queue(browser, workers.url, "When will KT share the details?")
            assert seen == {first}, "the join and its stream must reach the worker that holds the session"
            assert "September" in str(result["answer"])


def test_new_sessions_are_spread_over_every_worker(two_workers: tuple[Workers, Settings]) -> None:
    workers, _ = two_workers
    served = set()
    for _ in range(6):
        with httpx.Client(timeout=30) as browser:  # a new browser: no cookie yet
            served.add(browser.get(workers.url + "/").headers["x-rag-worker"])
    assert served == {"w1", "w2"}
    # Cookie-less API clients that name their session in the URL stick to it too (round robin would not).
    for session_hash in ("abc", "xyz"):
        seen = {
            httpx.get(f"{workers.url}/?session_hash={session_hash}", timeout=30).headers["x-rag-worker"]
            for _ in range(3)
        }
        assert len(seen) == 1, session_hash


def test_every_worker_answers_from_the_one_postgres_index(two_workers: tuple[Workers, Settings]) -> None:
    workers, _ = two_workers
    for url in workers.worker_urls:
        response = httpx.post(f"{url}/gradio_api/run/ask", json={"data": ["Who signed the agreement?"]}, timeout=30)
        response.raise_for_status()
        assert "Nadella" in str(response.json()["data"][0]["answer"])


def test_the_haproxy_configuration_is_valid_for_any_number_of_workers(tmp_path: Path) -> None:
    import subprocess

    try:
        binary = haproxy_binary()
    except RuntimeError as exc:
        pytest.skip(str(exc))
    for ports in ([8001], [8001, 8002, 8003, 8004]):
        config = tmp_path / "haproxy.cfg"
        config.write_text(render_haproxy_config("0.0.0.0", 7860, ports))
        check = subprocess.run([binary, "-c", "-f", str(config)], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        assert config.read_text().count("cookie w") == len(ports)


def test_rag_serve_workers_runs_behind_haproxy_and_stops_everything_on_sigterm(
    two_workers: tuple[Workers, Settings],
) -> None:
    import signal
    import subprocess
    import sys
    import time

    from server.workers import free_port

    _, settings = two_workers
    port = free_port()
    env = {
        **os.environ,
        "RAG_VECTOR_BACKEND": "postgres",
        "RAG_PG_DSN": str(settings.pg_dsn),
        "RAG_PG_SCHEMA": settings.pg_schema,
        "RAG_CACHE_DIR": str(Settings().cache_dir),
    }
    command = [sys.executable, "-m", "rag.cli", "serve", "-q", "--workers", "1", "--docs", str(settings.docs_dir)]
    launcher = subprocess.Popen([*command, "--port", str(port)], env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
                break
            except httpx.HTTPError:
                assert launcher.poll() is None and time.monotonic() < deadline, "rag serve --workers did not start"
                time.sleep(0.3)
        assert response.status_code == 200 and response.headers["x-rag-worker"] == "w1"
        children = subprocess.run(["pgrep", "-P", str(launcher.pid)], capture_output=True, text=True).stdout.split()
        assert len(children) == 2, "one rag serve process and HAProxy"
    finally:
        launcher.send_signal(signal.SIGTERM)
        launcher.wait(timeout=60)
    assert launcher.returncode == 0
    for pid in children:
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
