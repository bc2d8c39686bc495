"""The Postgres + pgvector backend against a real PostgreSQL 16 with pgvector 0.6.2 (pgserver), never a mock.

It must behave like the FAISS index: the same answers on the eval set, refreshes that embed only what
changed, a clear refusal of a newer layout, one writer at a time, and filtered searches that return all k.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import shutil
from pathlib import Path

import numpy as np
import psycopg
import pytest

import rag
from rag.config import Settings
from rag.embeddings import Embedder
from rag.errors import ConfigError, IndexLockedError, IndexVersionError
from rag.eval.metrics import METRIC_NAMES, evaluate
from rag.indexing import postgres as postgres_indexing
from rag.indexing.faiss import sync_index
from rag.indexing.postgres import sync_postgres
from rag.indexing.sync import sync_store
from rag.ingest.documents import Document
from rag.stores import postgres
from rag.stores.base import Scope
from rag.stores.postgres import PostgresStore
from tests.conftest import ANALYSIS, ROOT, SEEDS, SIGNING

QA = ROOT / "evals" / "qa.jsonl"


def test_the_eval_metrics_and_answers_are_the_same_on_both_backends(
    pg_settings: Settings, embedder: Embedder, tmp_path: Path
) -> None:
    faiss_bot = rag.Bot(
        pg_settings.replace(vector_backend="faiss"),
        embedder,
        sync_index(pg_settings.replace(vector_backend="faiss"), embedder, progress=False)[0],
        rag.answer.answerers.build_answerer(pg_settings),
    )
    store, report = sync_store(pg_settings, embedder, progress=False)
    assert isinstance(store, PostgresStore) and report.action == "built"
    pg_bot = rag.Bot(pg_settings, embedder, store, rag.answer.answerers.build_answerer(pg_settings))

    on_faiss, on_postgres = evaluate(faiss_bot, QA, progress=False), evaluate(pg_bot, QA, progress=False)
    assert set(on_postgres.metrics) == set(on_faiss.metrics) and set(on_faiss.metrics) <= set(METRIC_NAMES)
    for name in on_faiss.metrics:
        if not name.startswith("latency"):
            assert on_postgres.metrics[name] == pytest.approx(on_faiss.metrics[name], abs=1e-9, nan_ok=True), name
    for a, b in zip(on_faiss.records, on_postgres.records, strict=True):
        assert (a["id"], a["answer"], a["refused"], a["hit_rank"]) == (
            b["id"],
            b["answer"],
            b["refused"],
            b["hit_rank"],
        )
        assert [(c["source"], c["start"], c["end"]) for c in a["citations"]] == [
            (c["source"], c["start"], c["end"]) for c in b["citations"]
        ]
        assert [c["score"] for c in a["citations"]] == pytest.approx([c["score"] for c in b["citations"]], abs=1e-4)


def test_vectors_asked_for_together_are_all_there_when_the_cache_fills(
    pg_settings: Settings, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A look-up that filled the cache emptied it, rows asked for that were cached already included: the
    # question's rows then failed with a KeyError.
    faiss_store, _ = sync_index(pg_settings.replace(vector_backend="faiss"), embedder, progress=False)
    pg_store, _ = sync_postgres(pg_settings, embedder, progress=False)
    monkeypatch.setattr(postgres, "VECTOR_CACHE_ROWS", 3)
    pg_store.chunk_vectors([0, 1])
    rows = [1, 2, 3]
    got = pg_store.sentence_vectors(rows)
    for row, vectors in zip(rows, got, strict=True):
        np.testing.assert_array_equal(vectors, faiss_store.sentence_vectors_of(row))
    np.testing.assert_allclose(pg_store.chunk_vectors(rows), faiss_store.chunk_vectors(rows), atol=1e-7)


def test_retrieval_scores_terms_and_sentence_vectors_match_faiss(pg_settings: Settings, embedder: Embedder) -> None:
    faiss_store, _ = sync_index(pg_settings.replace(vector_backend="faiss"), embedder, progress=False)
    pg_store, _ = sync_postgres(pg_settings, embedder, progress=False)
    assert [c.id for c in pg_store.chunks] == [c.id for c in faiss_store.chunks]
    assert pg_store.chunks == faiss_store.chunks  # text, offsets and sentences survive the round trip
    np.testing.assert_allclose(pg_store.chunk_vectors(), faiss_store.chunk_vectors(), atol=1e-7)
    for row in range(len(pg_store)):
        np.testing.assert_array_equal(pg_store.sentence_vectors_of(row), faiss_store.sentence_vectors_of(row))
    pg_keywords, bm25 = pg_store.keyword_index(), rag.retrieve.bm25.BM25([c.text for c in faiss_store.chunks])
    for question in ["Microsoft cloud partnership details", "KT Mi:dm tokens", "Zorblat", "sovereignty security"]:
        vector = embedder.encode_one(question)
        pg_hits, faiss_hits = pg_store.search(vector, 5), faiss_store.search(vector, 5)
        assert [r for r, _ in pg_hits] == [r for r, _ in faiss_hits]
        assert [s for _, s in pg_hits] == pytest.approx([s for _, s in faiss_hits], abs=1e-5)
        assert pg_keywords.top(question, 6) == bm25.top(question, 6)
        for term in rag.ingest.terms.tokenize(question):
            assert pg_keywords.document_frequency(term) == bm25.document_frequency(term)
            assert math.isclose(pg_keywords.idf(term), bm25.idf(term))


def test_a_refresh_embeds_only_what_changed_and_removal_drops_the_rows(
    pg_settings: Settings, embedder: Embedder
) -> None:
    store, report = sync_postgres(pg_settings, embedder, progress=False)
    assert report.action == "built" and report.total_chunks == len(store) > 0
    untouched = [c for c in store.chunks if c.source == ANALYSIS]
    store, report = sync_postgres(pg_settings, embedder, progress=False, current=store)
    assert report.action == "reused" and report.embedded_chunks == 0

    (pg_settings.docs_dir / "extra.md").write_text("Zorblat is the mascot of the test suite. It is purple.")
    store, report = sync_postgres(pg_settings, embedder, progress=False, current=store)
    assert (report.action, report.added, report.embedded_chunks) == ("refreshed", ["extra.md"], 1)

    signing = pg_settings.docs_dir / SIGNING
    signing.write_text(signing.read_text() + "\nKT later added a footnote about Zorblat.", encoding="utf-8")
    store, report = sync_postgres(pg_settings, embedder, progress=False, current=store)
    assert report.changed == [SIGNING]
    assert report.embedded_chunks == sum(1 for c in store.chunks if c.source == SIGNING)
    assert [c for c in store.chunks if c.source == ANALYSIS] == untouched
    # The refreshed snapshot reads only the new rows: unchanged chunks are the previous snapshot's objects.
    assert all(a is b for a, b in zip([c for c in store.chunks if c.source == ANALYSIS], untouched, strict=True))

    (pg_settings.docs_dir / "extra.md").unlink()
    store, report = sync_postgres(pg_settings, embedder, progress=False, current=store)
    assert report.removed == ["extra.md"] and report.embedded_chunks == 0
    assert {c.source for c in store.chunks} == {SIGNING, ANALYSIS}
    with psycopg.connect(str(pg_settings.pg_dsn)) as conn:
        left = conn.execute(f"SELECT count(*) FROM {pg_settings.pg_schema}.chunks WHERE source = 'extra.md'")
        assert left.fetchone() == (0,)
    # And a fresh process, knowing nothing, sees the index as up to date.
    fresh, report = sync_postgres(pg_settings, embedder, progress=False)
    assert report.action == "reused" and [c.id for c in fresh.chunks] == [c.id for c in store.chunks]


def test_a_changed_chunk_setting_rebuilds_and_a_bot_answers_from_postgres(
    pg_settings: Settings, embedder: Embedder
) -> None:
    sync_postgres(pg_settings, embedder, progress=False)
    bot = rag.load(settings=pg_settings.replace(chunk_size=500), progress=False)
    assert isinstance(bot.store, PostgresStore) and bot.store.manifest.chunk_size == 500
    answer = bot.ask("When will KT share the details of the partnership?")
    assert not answer.refused and "September" in answer.text
    # Both articles say the details come in September; either is a right citation.
    assert answer.citations[0].source in {SIGNING, ANALYSIS} and "September" in answer.citations[0].text
    report = bot.add_documents([Document.from_text("notes.md", "Ada Berg leads the Zorblat project at KT.")])
    assert report.added == ["notes.md"] and report.embedded_chunks == 1
    assert bot.ask("Who leads the Zorblat project?").citations[0].source == "notes.md"


def test_readers_keep_their_snapshot_while_a_writer_refreshes(pg_settings: Settings, embedder: Embedder) -> None:
    reader, _ = sync_postgres(pg_settings, embedder, progress=False)
    assert reader.is_current()
    rows_before = [c.id for c in reader.chunks]
    (pg_settings.docs_dir / "extra.md").write_text("Zorblat is the mascot of the test suite. It is purple.")
    writer, _ = sync_postgres(pg_settings, embedder, progress=False)
    assert not reader.is_current() and writer.is_current()
    # The old snapshot never returns rows it does not know, and still finds all k among its own.
    hits = reader.search(embedder.encode_one("Zorblat mascot purple"), len(reader))
    assert sorted(r for r, _ in hits) == list(range(len(reader))) and [c.id for c in reader.chunks] == rows_before
    assert reader.keyword_index().top("Zorblat purple mascot", 3) == []
    assert writer.chunks[writer.keyword_index().top("Zorblat purple mascot", 1)[0]].source == "extra.md"


def test_an_index_from_a_newer_layout_is_refused_and_left_alone(pg_settings: Settings, embedder: Embedder) -> None:
    sync_postgres(pg_settings, embedder, progress=False)
    with psycopg.connect(str(pg_settings.pg_dsn), autocommit=True) as conn:
        conn.execute(f"UPDATE {pg_settings.pg_schema}.rag_meta SET value = '99' WHERE key = 'format_version'")
    (pg_settings.docs_dir / "extra.md").write_text("A new file that must not be written into the newer index.")
    with pytest.raises(IndexVersionError, match="newer version of rag"):
        sync_postgres(pg_settings, embedder, progress=False)
    with pytest.raises(IndexVersionError):
        PostgresStore.load(pg_settings)
    with psycopg.connect(str(pg_settings.pg_dsn)) as conn:
        assert conn.execute(f"SELECT count(*) FROM {pg_settings.pg_schema}.files").fetchone() == (2,)


def test_a_writer_waits_for_the_advisory_lock_and_gives_up_clearly(
    pg_settings: Settings, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(postgres_indexing, "LOCK_TIMEOUT_S", 0.5)
    key = f"rag-index:{pg_settings.pg_schema}"
    with psycopg.connect(str(pg_settings.pg_dsn), autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(hashtext(%s))", (key,))
        with pytest.raises(IndexLockedError, match="another process"):
            sync_postgres(pg_settings, embedder, progress=False)
    store, report = sync_postgres(pg_settings, embedder, progress=False)  # the holder is gone
    assert report.action == "built" and len(store) > 0


def _synthetic_embedder(dimension: int = 32) -> Embedder:
    """Deterministic pseudo-random unit vectors: thousands of chunks in a second, for the filter tests."""

    def encode(texts: list[str]) -> np.ndarray:
        out = np.empty((len(texts), dimension), dtype=np.float32)
        for i, text in enumerate(texts):
            seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
            vector = np.random.default_rng(seed).standard_normal(dimension).astype(np.float32)
            out[i] = vector / np.linalg.norm(vector)
        return out

    return Embedder("synthetic-32", dimension, "synthetic", encode)


def test_a_selective_filter_still_returns_the_full_k(pg_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    documents = [Document.from_text(f"doc{n:04d}.md", f"Record {n} says {n * 7919 % 1000}.") for n in range(3000)]
    settings = pg_settings.replace(index_type="hnsw")
    store, _ = sync_postgres(settings, _synthetic_embedder(), documents=documents, progress=False)
    assert store.manifest.index_type == "hnsw" and len(store) == 3000
    scope = [f"doc{n:04d}.md" for n in range(0, 3000, 150)]  # 20 of 3000 chunks: 0.7% of the index
    query = _synthetic_embedder().encode(["a question"])[0]
    exact = store.search(query, 10, sources=scope)
    assert len(exact) == 10 and {store.chunks[r].source for r, _ in exact} <= set(scope)
    brute = sorted(
        ((float(store.chunk_vectors([r])[0] @ query), r) for r, c in enumerate(store.chunks) if c.source in scope),
        reverse=True,
    )
    assert [r for r, _ in exact] == [r for _, r in brute[:10]]
    # Through the graph alone, pgvector 0.6 finds too few under this filter; the store then searches exactly.
    monkeypatch.setattr(postgres, "EXACT_SCOPE_ROWS", 0)
    assert len(store._query(query, 10, sorted(scope), graph=True)) < 10
    assert store.search(query, 10, sources=scope) == exact
    # Unfiltered, HNSW answers (recall is approximate, the count is not).
    assert len(store.search(query, 10)) == 10
    assert store.keyword_index().top("Record 150 says", 5, Scope(frozenset(scope), np.zeros(0)))[:1] == [
        next(r for r, c in enumerate(store.chunks) if c.source == "doc0150.md")
    ]


def test_settings_and_connection_errors_are_clear(pg_settings: Settings, embedder: Embedder, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="RAG_PG_DSN"):
        Settings(vector_backend="postgres")
    with pytest.raises(ConfigError, match="int8"):
        sync_postgres(pg_settings.replace(vector_storage="int8"), embedder, progress=False)
    missing = f"postgresql://nobody@/postgres?host={tmp_path}&port=1"
    with pytest.raises(ConfigError, match="cannot connect to PostgreSQL"):
        sync_postgres(dataclasses.replace(pg_settings, pg_dsn=missing), embedder, progress=False)
    assert Settings.from_env({"RAG_VECTOR_BACKEND": "postgres", "RAG_PG_DSN": "postgresql://x/y"}).pg_dsn == (
        "postgresql://x/y"
    )


def test_rag_index_and_ask_on_postgres_from_the_command_line(
    pg_settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from rag.cli import main

    docs = tmp_path / "cli-docs"
    shutil.copytree(SEEDS, docs)
    monkeypatch.setenv("RAG_VECTOR_BACKEND", "postgres")
    monkeypatch.setenv("RAG_PG_DSN", str(pg_settings.pg_dsn))
    monkeypatch.setenv("RAG_PG_SCHEMA", pg_settings.pg_schema)
    assert main(["index", "-q", "--docs", str(docs), "--index", str(tmp_path / "unused")]) == 0
    assert "built index" in capsys.readouterr().out
    assert not (tmp_path / "unused").exists(), "the postgres backend writes nothing under --index"
    assert main(["ask", "-q", "--docs", str(docs), "When will KT share the details?"]) == 0
    assert "September" in capsys.readouterr().out


def test_a_bot_sees_documents_another_process_added_to_the_shared_index(
    pg_settings: Settings, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rag.bot import bot as pipeline

    monkeypatch.setattr(pipeline, "SHARED_INDEX_CHECK_S", 0.0)
    answerer = rag.answer.answerers.build_answerer(pg_settings)
    first = rag.Bot(pg_settings, embedder, sync_postgres(pg_settings, embedder, progress=False)[0], answerer)
    second = rag.Bot(pg_settings, embedder, PostgresStore.load(pg_settings), answerer)
    assert second.ask("Who leads the Zorblat project?").refused
    first.add_documents([Document.from_text("notes.md", "Ada Berg leads the Zorblat project at KT.")])
    answer = second.ask("Who leads the Zorblat project?")
    assert not answer.refused and answer.citations[0].source == "notes.md"
    assert "notes.md" in second.documents


def test_a_rebuild_replaces_the_index_at_once_and_old_snapshots_never_see_new_rows(
    pg_settings: Settings, embedder: Embedder
) -> None:
    reader, _ = sync_postgres(pg_settings, embedder, progress=False)
    rebuilt, report = sync_postgres(pg_settings.replace(chunk_size=500), embedder, progress=False)
    assert report.action == "built" and "chunk_size 800 -> 500" in report.reason
    assert not reader.is_current() and rebuilt.generation > reader.generation
    assert reader.search(embedder.encode_one("Who signed the agreement?"), 4) == []  # no row mistaken for its own
    assert reader.latest().manifest.chunk_size == 500
    with psycopg.connect(str(pg_settings.pg_dsn)) as conn:
        staging = conn.execute("SELECT to_regnamespace(%s)", (pg_settings.pg_schema + "_next",)).fetchone()
    assert staging == (None,), "the staging schema is gone once its tables moved in"
