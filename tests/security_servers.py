"""What the security tests share: a real ``rag serve`` in a subprocess, signed-in clients, Gradio's wire protocol.

``serving(root, flags, env)`` starts ``python -m rag.cli serve`` over a prepared folder (docs, index, users
file) and stops it afterwards; ``GradioPage`` reads the page's ``/config`` as a browser does and calls its
events by ``fn_index`` over the queue (``/gradio_api/queue/join`` + the event stream), exactly the requests a
browser (or an attacker with a cookie) sends.
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 180.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Served:
    """A running ``rag serve``: its URL, folders, and what it wrote on stderr so far."""

    url: str
    root: Path
    process: subprocess.Popen[bytes]
    log_path: Path
    gradio_tmp: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def users_file(self) -> Path:
        return self.root / "users.json"

    @property
    def audit_path(self) -> Path:
        return self.root / "users.audit.jsonl"

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def audit(self) -> list[dict[str, Any]]:
        if not self.audit_path.exists():
            return []
        return [json.loads(line) for line in self.audit_path.read_text(encoding="utf-8").splitlines() if line]


def serve_env(root: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a ``rag serve`` over ``root`` (docs, index, users file, a Gradio folder of its own)."""
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "RAG_DOCS": str(root / "docs"),
        "RAG_INDEX": str(root / "index"),
        "RAG_USERS_FILE": str(root / "users.json"),
        "GRADIO_TEMP_DIR": str(root / "gradio-tmp"),
        "RAG_WATCH": "0",
        **(extra or {}),
    }


def start(root: Path, flags: list[str], env: dict[str, str] | None = None) -> Served:
    """Start ``rag serve`` over ``root`` on a free port (not waiting for it)."""
    port = free_port()
    log_path = root / f"serve-{port}.log"
    environment = serve_env(root, env)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "rag.cli", "serve", "--port", str(port), *flags],
            cwd=root,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return Served(
        f"http://127.0.0.1:{port}", root, process, log_path, Path(environment["GRADIO_TEMP_DIR"]), environment
    )


def wait_until_up(served: Served, timeout_s: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if served.process.poll() is not None:
            raise AssertionError(f"rag serve exited with {served.process.returncode}:\n{served.log()[-3000:]}")
        try:
            if httpx.get(f"{served.url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"rag serve did not answer within {timeout_s:.0f} s:\n{served.log()[-3000:]}")


def stop(served: Served) -> None:
    if served.process.poll() is None:
        served.process.send_signal(signal.SIGTERM)
        try:
            served.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            served.process.kill()
            served.process.wait(timeout=10)


@contextmanager
def serving(root: Path, flags: list[str] | None = None, env: dict[str, str] | None = None) -> Iterator[Served]:
    """A running ``rag serve`` over ``root``; stopped (SIGTERM) afterwards."""
    served = start(root, flags or [], env)
    try:
        wait_until_up(served)
        yield served
    finally:
        stop(served)


def prepare(root: Path, seeds: Path, index: Path | None = None) -> Path:
    """``root`` with a copy of the seed documents and, when given, of a built index."""
    shutil.copytree(seeds, root / "docs")
    if index is not None:
        shutil.copytree(index, root / "index")
    return root


@contextmanager
def signed_in(base: str, name: str, password: str, **client_args: Any) -> Iterator[httpx.Client]:
    """An httpx client holding a session cookie of ``name`` (as a browser would after the login form)."""
    with httpx.Client(base_url=base, timeout=60, **client_args) as client:
        reply = client.post("/login", data={"username": name, "password": password})
        assert reply.status_code == 303, (reply.status_code, reply.text[:300])
        yield client


class GradioPage:
    """The chat page as its JavaScript sees it: components and events from ``/config``, events called by index."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        reply = client.get("/config")
        assert reply.status_code == 200, (reply.status_code, reply.text[:300])
        self.config: dict[str, Any] = reply.json()
        self.components = {c["id"]: c for c in self.config["components"]}

    def component(self, elem_id: str) -> dict[str, Any]:
        return next(c for c in self.components.values() if c.get("props", {}).get("elem_id") == elem_id)

    def events_with_input(self, *types: str) -> list[dict[str, Any]]:
        """Every event whose inputs include a component of one of ``types`` (``chatbot``, ``file``...)."""
        return [
            dep
            for dep in self.config["dependencies"]
            if any(self.components[i]["type"] in types for i in dep["inputs"])
        ]

    def event_targeting(self, elem_id: str, trigger: str) -> dict[str, Any]:
        """The event that ``trigger`` (``click``, ``submit``...) on the component ``elem_id`` starts."""
        target = self.component(elem_id)["id"]
        return next(dep for dep in self.config["dependencies"] if [target, trigger] in dep["targets"])

    def default_inputs(self, dep: dict[str, Any]) -> list[Any]:
        return [self.components[i].get("props", {}).get("value") for i in dep["inputs"]]

    def call(self, fn_index: int, data: list[Any], session_hash: str | None = None, timeout_s: float = 120) -> Any:
        """Run event ``fn_index`` with ``data`` through the queue; returns its last output, or raises ``EventError``."""
        session = session_hash or uuid.uuid4().hex[:11]
        joined = self.client.post(
            "/gradio_api/queue/join",
            json={"data": data, "fn_index": fn_index, "session_hash": session, "event_data": None, "trigger_id": None},
        )
        if joined.status_code != 200:
            raise EventError(f"join refused: {joined.status_code} {joined.text[:300]}")
        output: Any = None
        with self.client.stream("GET", f"/gradio_api/queue/data?session_hash={session}", timeout=timeout_s) as stream:
            for line in stream.iter_lines():
                if not line.startswith("data:"):
                    continue
                message = json.loads(line[5:])
                if message.get("msg") in {"process_generating", "process_completed"}:
                    out = message.get("output") or {}
                    if message["msg"] == "process_completed" and not message.get("success", True):
                        raise EventError(str(out.get("error") or out))
                    output = out.get("data", output)
                if message.get("msg") == "process_completed":
                    return output
        raise EventError("the event stream ended without a result")

    def run(self, fn_index: int, data: list[Any]) -> httpx.Response:
        """Run an unqueued event (``queue=False``) as the page does: one POST."""
        return self.client.post(
            "/gradio_api/run/predict", json={"data": data, "fn_index": fn_index, "session_hash": uuid.uuid4().hex[:11]}
        )


class EventError(Exception):
    """A Gradio event that failed (an error from the handler or from Gradio's own checks)."""


def file_data(path: Path | str, name: str | None = None) -> dict[str, Any]:
    """A ``FileData`` as the page sends it for a file: what Gradio's file and chat components accept."""
    return {"path": str(path), "orig_name": name or Path(path).name, "meta": {"_type": "gradio.FileData"}}


COLLECTED: list[str] = []  # the paths ``attacker_site`` was asked for


class _Site(http.server.BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:
        COLLECTED.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def attacker_site(html: str) -> Iterator[str]:
    """A page served from another port of this machine (another origin, the same site); records every hit."""
    COLLECTED.clear()
    handler = type("Site", (_Site,), {"body": f"<!doctype html><html><body>{html}</body></html>".encode()})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


def browser_sign_in(page: Any, base: str, name: str, password: str) -> None:
    """Sign in through the login form in Chromium and wait for the chat."""
    page.goto(base + "/", wait_until="load")
    page.locator("#username").fill(name)
    page.locator("#password").fill(password)
    page.locator("#sign-in").click()
    page.locator("#question textarea").wait_for(timeout=30_000)
