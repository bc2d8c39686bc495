"""Real HTTP servers on 127.0.0.1 that speak the wire protocols of OpenAI and Ollama, for tests.

The real client libraries (openai via langchain-openai, ollama via langchain-ollama) talk to them over real
sockets. Each server answers from a script: a list of ``Reply`` objects consumed one per request, which can
return text (as JSON, server-sent events or NDJSON, whichever the client asked for), an HTTP error, a slow
stream, or a connection dropped in the middle of a chunked body. Every request body is recorded.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """What the server does with one request."""

    text: str = ""
    status: int = 200
    delay_s: float = 0.0  # before the first byte
    chunk_delay_s: float = 0.0  # between streamed pieces
    drop_after: int | None = None  # close the connection after this many streamed pieces


@dataclass
class ScriptedServer:
    """A running server; ``url`` is its base address, ``requests`` the JSON bodies it received."""

    url: str
    script: list[Reply] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)

    def next_reply(self) -> Reply:
        return self.script.pop(0) if self.script else Reply("I couldn't find this in the documents.")


def _pieces(text: str, size: int = 12) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_state: ScriptedServer
    flavour: str

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    # ------------------------------------------------------------------ plumbing
    def _send_json(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _start_chunked(self, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _drop(self) -> None:
        # Half a chunk, then close: the client sees an incomplete chunked body.
        self.wfile.write(b"40\r\npartial")
        self.wfile.flush()
        self.close_connection = True
        self.connection.shutdown(2)

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"{}")

    # ------------------------------------------------------------------ routes
    def do_GET(self) -> None:
        self.server_state.paths.append(self.path)
        if self.path.startswith("/api/tags"):
            self._send_json(200, {"models": [{"name": "llama3.2:latest", "model": "llama3.2:latest"}]})
        elif self.path.endswith("/models"):
            self._send_json(200, {"object": "list", "data": [{"id": "test-model", "object": "model"}]})
        else:
            self._send_json(404, {"error": "not found"})

    def do_POST(self) -> None:
        self.server_state.paths.append(self.path)
        body = self._body()
        self.server_state.requests.append(body)
        reply = self.server_state.next_reply()
        time.sleep(reply.delay_s)
        if self.path.split("?")[0].endswith("/chat/completions"):
            self._openai(body, reply)
        elif self.path.startswith("/api/chat"):
            self._ollama(body, reply)
        else:
            self._send_json(404, {"error": f"no route {self.path}"})

    def _openai(self, body: dict[str, Any], reply: Reply) -> None:
        model = body.get("model", "test-model")
        if reply.status != 200:
            self._send_json(
                reply.status,
                {
                    "error": {
                        "message": f"scripted error {reply.status}",
                        "type": "test_error",
                        "code": str(reply.status),
                    }
                },
            )
            return
        created = int(time.time())
        if not body.get("stream"):
            self._send_json(
                200,
                {
                    "id": "chatcmpl-test",
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": reply.text}, "finish_reason": "stop"}
                    ],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
                },
            )
            return
        self._start_chunked("text/event-stream")

        def event(delta: dict[str, Any], finish: str | None = None) -> bytes:
            chunk = {
                "id": "chatcmpl-test",
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            return f"data: {json.dumps(chunk)}\n\n".encode()

        self._chunk(event({"role": "assistant", "content": ""}))
        for i, piece in enumerate(_pieces(reply.text)):
            if reply.drop_after is not None and i >= reply.drop_after:
                self._drop()
                return
            self._chunk(event({"content": piece}))
            time.sleep(reply.chunk_delay_s)
        self._chunk(event({}, "stop"))
        self._chunk(b"data: [DONE]\n\n")
        self._chunk(b"")

    def _ollama(self, body: dict[str, Any], reply: Reply) -> None:
        model = body.get("model", "llama3.2")
        if reply.status != 200:
            self._send_json(reply.status, {"error": f"scripted error {reply.status}"})
            return
        now = "2026-11-23T00:00:00Z"
        final = {
            "model": model,
            "created_at": now,
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": "stop",
            "total_duration": 1,
            "load_duration": 1,
            "prompt_eval_count": 10,
            "prompt_eval_duration": 1,
            "eval_count": 10,
            "eval_duration": 1,
        }
        if body.get("stream") is False:
            self._send_json(200, {**final, "message": {"role": "assistant", "content": reply.text}})
            return
        self._start_chunked("application/x-ndjson")
        for i, piece in enumerate(_pieces(reply.text)):
            if reply.drop_after is not None and i >= reply.drop_after:
                self._drop()
                return
            line = {
                "model": model,
                "created_at": now,
                "message": {"role": "assistant", "content": piece},
                "done": False,
            }
            self._chunk((json.dumps(line) + "\n").encode())
            time.sleep(reply.chunk_delay_s)
        self._chunk((json.dumps(final) + "\n").encode())
        self._chunk(b"")


@contextmanager
def scripted_server() -> Iterator[ScriptedServer]:
    """Start a server on a free loopback port; it serves both protocols, so one fixture fits all tests."""
    state = ScriptedServer(url="")
    handler = type("Handler", (_Handler,), {"server_state": state})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
