"""A real uvicorn server running ``server.app.create_app`` on a free loopback port, in a thread."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn

import rag
from server.app import create_app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_server(bot: rag.Bot, users_file: Path | None) -> Iterator[str]:
    """Serve ``bot`` (auth on when ``users_file`` is given) and yield its base URL; stop it afterwards."""
    app = create_app(bot, users_file=users_file)
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", proxy_headers=False, server_header=False
    )  # as server.app.serve runs it
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    else:
        raise RuntimeError("the server did not start")
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=15)
