"""Embedding on Ray (``rag index --ray``) against a real local Ray: the same index as one process builds.

Ray costs about 5 s and 670 MB to start, so this module starts it once, contained: its session files under
a temporary folder, ``HOME`` pointed elsewhere (Ray writes ``~/.ray``), usage stats off, and the node
address pinned to 127.0.0.1 (no public-IP look-up).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from rag.config import Settings
from rag.embeddings import Embedder
from rag.indexing.faiss import sync_index
from rag.stores.postgres import PostgresStore
from tests.conftest import SEEDS

ray = pytest.importorskip("ray", reason="Ray is installed by `make setup` (rag[dev])")

from rag.indexing.ray import RayEmbedder, ray_session  # noqa: E402  (after the skip)


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    home = tmp_path_factory.mktemp("ray-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", str(home))
        patch.setenv("RAY_USAGE_STATS_ENABLED", "0")
        with ray_session(num_cpus=2, temp_dir=tmp_path_factory.mktemp("ray")):
            yield
    assert not (Path.home() / ".ray").exists() or (home / ".ray").exists()


def test_ray_embeds_the_same_vectors_as_one_process(local_ray: None, embedder: Embedder) -> None:
    texts = [p.read_text(encoding="utf-8")[:700] for p in sorted(SEEDS.iterdir())] * 40
    spans = [[(0, 40), (41, 200), (300, len(t))] for t in texts]
    wrapped = RayEmbedder.wrapping(embedder, actors=2, cache_dir=Settings().cache_dir)
    vectors, pooled = wrapped.encode_with_spans(texts, spans)
    expected_vectors, expected_pooled = embedder.encode_with_spans(texts, spans)
    assert vectors.shape == (80, embedder.dimension) and pooled.shape == (240, embedder.dimension)
    np.testing.assert_allclose(vectors, expected_vectors, atol=1e-5)
    np.testing.assert_allclose(pooled, expected_pooled, atol=1e-5)
    assert wrapped.encode_with_spans([], [])[0].shape == (0, embedder.dimension)


def test_an_index_built_on_ray_equals_the_single_process_index(
    local_ray: None, embedder: Embedder, settings: Settings, tmp_path: Path
) -> None:
    single, _ = sync_index(settings, embedder, progress=False)
    on_ray = settings.replace(index_dir=tmp_path / "ray-index")
    store, report = sync_index(
        on_ray, RayEmbedder.wrapping(embedder, 2, cache_dir=Settings().cache_dir), progress=False
    )
    assert report.action == "built" and report.embedded_chunks == len(single)
    assert store.chunks == single.chunks
    np.testing.assert_allclose(store.chunk_vectors(), single.chunk_vectors(), atol=1e-5)
    for row in range(len(store)):
        # Sentence vectors are stored as float16: equal to its resolution.
        np.testing.assert_allclose(store.sentence_vectors_of(row), single.sentence_vectors_of(row), atol=1e-3)
    _, again = sync_index(on_ray, embedder, progress=False)
    assert again.action == "reused", "a Ray-built index is the same index: the single-process path reuses it"


def test_rag_index_ray_fills_a_postgres_index(
    local_ray: None,
    pg_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    from rag.cli import main

    docs = tmp_path / "ray-docs"
    shutil.copytree(SEEDS, docs)
    monkeypatch.setenv("RAG_VECTOR_BACKEND", "postgres")
    monkeypatch.setenv("RAG_PG_DSN", str(pg_settings.pg_dsn))
    monkeypatch.setenv("RAG_PG_SCHEMA", pg_settings.pg_schema)
    monkeypatch.setenv("RAG_CACHE_DIR", str(Settings().cache_dir))
    assert main(["index", "-q", "--ray", "--ray-actors", "2", "--docs", str(docs)]) == 0
    assert "built index" in capsys.readouterr().out
    store = PostgresStore.load(pg_settings.replace(docs_dir=docs))
    assert {c.source for c in store.chunks} == {p.name for p in SEEDS.iterdir()}
