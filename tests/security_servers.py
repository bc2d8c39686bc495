"""What the security tests share: a real ``rag serve`` in a subprocess, signed-in clients, Gradio's wire protocol.

``serving(root, flags, env)`` starts ``python -m rag.cli serve`` over a prepared folder (docs, index, users
file) and stops it afterwards; ``GradioPage`` reads the page's ``/config`` as a browser does and calls its
events by ``fn_index`` over the queue (``/gradio_api/queue/join`` + the event stream), exactly the requests a
browser (or an attacker with a cookie) sends.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import re
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
PASSWORDS = {"rita": "rita-reads-a-lot", "ed": "ed-edits-docs-1", "ada": "ada-admin-pass"}
SECRET = "ZEBRA-SECRET-4711 the vault code is 9931"  # in <root>/private/secret-notes.txt of every prepared root
# What each attacked file holds, as it would show if it leaked: the planted secret, a password hash, a system
# file, a SQLite file, the server's environment (API keys).
LEAKS = (SECRET, "scrypt$", "root:x:0:", "SQLite format 3", "RAG_DOCS=")


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


def wait_for(url: str, process: subprocess.Popen[bytes], timeout_s: float = START_TIMEOUT_S) -> None:
    """Until ``url`` answers 200; fails if ``process`` exits first or the time runs out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{url} did not answer within {timeout_s:.0f} s")


def wait_until_up(served: Served, timeout_s: float = START_TIMEOUT_S) -> None:
    try:
        wait_for(f"{served.url}/healthz", served.process, timeout_s)
    except AssertionError as exc:
        raise AssertionError(f"rag serve: {exc}:\n{served.log()[-3000:]}") from None


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
    """``root`` with a copy of the seed documents, of a built index when given, and ``private/secret-notes.txt``."""
    shutil.copytree(seeds, root / "docs")
    if index is not None:
        shutil.copytree(index, root / "index")
    (root / "private").mkdir()
    (root / "private" / "secret-notes.txt").write_text(SECRET + "\n", encoding="utf-8")
    return root


def add_accounts(users_file: Path) -> dict[str, str]:
    """rita (reader), ed (editor) and ada (admin) with ``PASSWORDS``; returns their API tokens."""
    from server.users import UserStore

    store = UserStore(users_file)
    for name, role in (("rita", "reader"), ("ed", "editor"), ("ada", "admin")):
        store.add(name, role, PASSWORDS[name])
    return {name: store.issue_token(name) for name in PASSWORDS}


def assert_nothing_leaked(served: Served, seen: str) -> None:
    """No ``LEAKS`` marker in what an attack got back, none in Gradio's upload folder, no secret indexed."""
    assert not [m for m in LEAKS if m in seen], "a server file came back"
    copies = [p for p in files_in(served.gradio_tmp) if any(m.encode() in p.read_bytes() for m in LEAKS)]
    assert copies == [], "Gradio copied a server file into its upload cache"
    assert not (served.root / "docs" / "uploads" / "secret-notes.txt").exists()


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


def via(address: str, **args: Any) -> httpx.Client:
    """A client whose connections come from ``address`` (any 127.x address is this machine)."""
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=60, **args)


def files_in(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def file_urls(value: Any) -> list[str]:
    """Every ``/file=`` URL inside an event's output."""
    return [u for u in re.findall(r'"url": "([^"]+)"', json.dumps(value)) if "/file=" in u]


def upload_files(client: httpx.Client, count: int, words: int = 900) -> list[dict[str, Any]]:
    """Upload ``count`` text files through Gradio's upload route; returns them as the file input sends them."""
    files = [
        ("files", (f"bulk-{n}.txt", " ".join(f"Item {n}.{i} of the Quorblat ledger." for i in range(words)).encode()))
        for n in range(count)
    ]
    reply = client.post("/gradio_api/upload", files=files)
    assert reply.status_code == 200, reply.text[:300]
    return [file_data(p, f"bulk-{n}.txt") for n, p in enumerate(reply.json())]


def attack_inputs(page: GradioPage, dep: dict[str, Any], files: list[dict[str, Any]]) -> list[Any]:
    """The event's inputs with ``files`` as a chat message (chatbot inputs) or as the upload (file inputs)."""
    data = page.default_inputs(dep)
    for n, component in enumerate(page.components[i] for i in dep["inputs"]):
        if component["type"] == "chatbot":
            data[n] = [{"role": "user", "content": [{"type": "file", "file": f} for f in files]}]
        elif component["type"] == "file":
            data[n] = files
        elif component.get("props", {}).get("elem_id") == "question":
            data[n] = "What is in these files?"
    return data


def replay_file_attack(client: httpx.Client, paths: list[Path]) -> str:
    """Feed ``paths`` to every event with a chatbot or file input; returns all that came back, files fetched."""
    page = GradioPage(client)
    events = page.events_with_input("chatbot", "file")
    assert len(events) >= 2, "the chat (chatbot input) and the upload (file input) at least"
    seen = []
    for dep in events:
        try:
            output: Any = page.call(dep["id"], attack_inputs(page, dep, [file_data(p) for p in paths]))
        except EventError as exc:
            output = str(exc)
        seen.append(json.dumps(output))
        seen += [client.get(url).text for url in file_urls(output)]
    return "\n".join(seen)


def ignore_failure(call: Any, *args: Any) -> None:
    """``call(*args)``, when the server may be killed under it."""
    with contextlib.suppress(EventError, httpx.HTTPError):
        call(*args)


def run_briefly(command: list[str], cwd: Path, env: dict[str, str], timeout_s: float) -> tuple[int | None, bytes]:
    """Run ``command``; its exit code and output, or None if it was still running after ``timeout_s`` (killed)."""
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        out, _ = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # its workers and HAProxy too: the group it leads
        out, _ = process.communicate()
        return None, out
    return process.returncode, out


def locked_files(pid: int, files: list[Path]) -> set[str]:
    """Which of ``files`` process ``pid`` holds a POSIX lock on (Linux's /proc/locks)."""
    inodes = {f.stat().st_ino: f.name for f in files if f.exists()}
    held = set()
    for line in Path("/proc/locks").read_text().splitlines():
        parts = line.split()
        if len(parts) > 5 and parts[4] == str(pid) and int(parts[5].rsplit(":", 1)[-1]) in inodes:
            held.add(inodes[int(parts[5].rsplit(":", 1)[-1])])
    return held
