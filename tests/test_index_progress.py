"""Long indexing is never silent without a terminal, and names each skipped file once.

Without a terminal (piped, a service manager) a progress bar is hidden, so ``rag index`` logs a line at least
every 10 s with files, chunks, rate and time left; the summary lists the skipped files, and nothing else does.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rag.indexing.progress import LOG_EVERY_S, IndexProgress, log_reporter
from tests.conftest import SEEDS

ROOT = Path(__file__).resolve().parent.parent


def test_the_log_reporter_logs_at_least_every_ten_seconds(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    report, close = log_reporter(clock=lambda: now[0])
    assert LOG_EVERY_S == 10.0
    caplog.set_level(logging.INFO, logger="rag.indexing.progress")
    for t in [0.0, 0.5, 5.0, 9.9, 10.0, 10.5, 19.0, 20.5, 25.0]:
        now[0] = t
        report(IndexProgress(1, 4, int(t * 10), 400, t or 0.001))
    now[0] = 26.0
    report(IndexProgress(4, 4, 400, 400, 26.0, finished=True))
    close()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 4, lines  # t=0, t=10, t=20.5, and the end
    assert lines[1] == "Indexing: 1/4 files, 100/400 chunks, 10.0 chunks/s, about 30 s left"
    assert lines[-1] == "Indexing finished: 4/4 files, 400/400 chunks, 15.4 chunks/s, took 26 s"


def test_rag_index_without_a_terminal_logs_progress_and_names_a_skipped_file_once(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    shutil.copytree(SEEDS, docs)
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4 not really")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    run = subprocess.run(
        [sys.executable, "-m", "rag.cli", "index", "--docs", str(docs), "--index", str(tmp_path / "index")],
        capture_output=True,  # pipes: no terminal
        text=True,
        env=env,
        timeout=240,
    )
    assert run.returncode == 0, run.stderr
    progress = [line for line in run.stderr.splitlines() if "Indexing" in line]
    assert progress, run.stderr
    assert all(w in progress[0] for w in ("files", "chunks", "chunks/s")) and "left" in progress[0], progress
    assert "Indexing finished" in progress[-1], progress
    everything = run.stdout + run.stderr
    assert everything.count("broken.pdf") == 1, everything
    assert "broken.pdf: corrupt or truncated PDF" in run.stdout
