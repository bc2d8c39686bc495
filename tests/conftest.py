"""Shared fixtures: the real embedding model (loaded once), seed documents copied to temporary folders."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import rag
from rag.config import Settings
from rag.embeddings import Embedder, get_embedder
from tests.ast_guard import pytest_runtest_makereport  # noqa: F401  (one failure never ends the run)
from tests.browser import browser  # noqa: F401  (Chromium for the browser tests)
from tests.llm_real import llama_server  # noqa: F401 - the real llama.cpp server, one per session
from tests.pg import pg_dsn, pg_settings  # noqa: F401  (a real PostgreSQL for tests that ask for it)
from tests.serve_process import rag_serve  # noqa: F401  (a real `rag serve` with accounts, one per session)

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
SIGNING = "000_9e8dd42f31235db3.txt"
ANALYSIS = "001_a4f8977f78a39ff4.txt"
# The fields of `rag ask --json` (and of /ask and POST /api/ask, which return the same object), in order.
ANSWER_FIELDS = ("question", "answer", "refused", "backend", "notice", "citations", "timings_ms", "verification")


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    settings = Settings()
    return get_embedder(settings.embedding_model, cache_dir=settings.cache_dir)


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    """A private copy of the seed articles."""
    folder = tmp_path / "docs"
    shutil.copytree(SEEDS, folder)
    return folder


@pytest.fixture
def settings(tmp_path: Path, docs: Path) -> Settings:
    return Settings(docs_dir=docs, index_dir=tmp_path / "index")


@pytest.fixture(scope="session")
def seed_bot(tmp_path_factory: pytest.TempPathFactory) -> rag.Bot:
    """A bot over the seed articles with its own index, shared by read-only tests."""
    root = tmp_path_factory.mktemp("seed-bot")
    shutil.copytree(SEEDS, root / "docs")
    return rag.load(root / "docs", root / "index", progress=False)


@pytest.fixture(autouse=True)
def _restore_rag_log_level() -> Iterator[None]:
    """``rag.cli.main`` run in-process sets the "rag" logger's level (``-q``: errors only); later tests
    that check warnings must not inherit it."""
    logger = logging.getLogger("rag")
    level = logger.level
    yield
    logger.setLevel(level)
