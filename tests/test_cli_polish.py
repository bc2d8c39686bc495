"""`rag chat` driven through a pipe and a pseudo-terminal, and log lines printed once per event."""

from __future__ import annotations

import os
import pty
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import SEEDS, SIGNING


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    shutil.copytree(SEEDS, tmp_path / "docs")
    return {**os.environ, "RAG_DOCS": str(tmp_path / "docs"), "RAG_INDEX": str(tmp_path / "index")}


def rag(args: list[str], env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rag.cli", *args], env=env, input=stdin, capture_output=True, text=True, timeout=600
    )


def test_index_and_rebuild_lines_are_printed_once(env: dict[str, str], tmp_path: Path) -> None:
    built = rag(["index"], env)
    assert built.returncode == 0, built.stderr
    assert (built.stdout + built.stderr).count("built index") == 1, built.stdout + built.stderr
    (tmp_path / "index" / "manifest.json").write_text("not json", encoding="utf-8")
    asked = rag(["ask", "Where was the KT-Microsoft agreement signed?"], env)
    assert asked.returncode == 0, asked.stderr
    assert asked.stderr.count("rebuilding it") == 1, asked.stderr
    assert asked.stderr.count("built index") == 1, asked.stderr


def test_chat_keeps_the_conversation_and_shows_sources(env: dict[str, str]) -> None:
    script = "Who signed the KT-Microsoft agreement?\nWhere did they sign it?\n/sources\n/clear\n/bogus\n\n/quit\n"
    result = rag(["chat", "-q"], env, script)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Kim Young-shub" in out and "Redmond" in out
    assert "(searched for: Where did they sign it? (" in out  # the follow-up was read with the first question
    assert f"[1] {SIGNING} [" in out  # /sources: source and offsets of the last answer's passage
    assert "conversation is forgotten" in out and "Unknown command /bogus" in out
    assert "> " not in out  # no prompt when reading a pipe


def test_chat_on_a_terminal_prompts_and_ends_on_ctrl_d(env: dict[str, str]) -> None:
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "rag.cli", "chat", "-q"], stdin=follower, stdout=follower, stderr=follower, env=env
    )
    os.close(follower)
    seen = b""

    def read_until(marker: bytes, timeout: float = 120) -> None:
        nonlocal seen
        deadline = time.monotonic() + timeout
        while marker not in seen:
            assert time.monotonic() < deadline, seen.decode(errors="replace")
            ready, _, _ = select.select([leader], [], [], 1)
            if ready:
                seen += os.read(leader, 4096)

    try:
        read_until(b"> ")
        os.write(leader, b"When will KT reveal the details of the partnership?\n")
        read_until(b"September")
        read_until(b"> ")
        os.write(leader, b"/sources\n")
        read_until(b"[1] ")
        os.write(leader, b"\x04")  # Ctrl+D: end of input
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
        os.close(leader)
