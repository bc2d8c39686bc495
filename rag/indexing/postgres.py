"""Keeping the Postgres index in step with its docs folder: ``sync_postgres``, ``rag.indexing.faiss``'s twin.

It plans a refresh with the same code as the FAISS job (``rag.indexing.refresh``): the same scan of the docs
folder, the same comparison with the index's manifest, the same settings that force a rebuild.

Writers take a PostgreSQL advisory lock (per schema) instead of the file lock, and write one transaction
per refresh step: removed files in one, each changed or added file in its own, then the settings and the
generation. Embedding comes first, so the database is only touched once the vectors exist. Readers never
wait: a reader sees each file either as it was or as it is now, and keeps its own snapshot of the chunk
list (rows) from when it loaded. New chunks always get larger ids than the ones a snapshot knows, so a
snapshot's searches simply never return them; ``PostgresStore.is_current()`` says when a newer generation
exists, and a ``Bot`` checks it every few seconds and loads the latest (``rag.stores.base.SharedStore``). A
rebuild (another model or chunk size) fills ``<schema>_next`` and moves its tables in within one
transaction, ids and generation carrying on from the index it replaces.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from rag.config import Settings
from rag.embeddings import Embedder
from rag.errors import ConfigError, CorruptIndexError, IndexLockedError, IndexVersionError, RagError
from rag.indexing.refresh import Corpus, IndexReport, plan_refresh, resolve_index_type, scan_docs, setting_changes
from rag.indexing.sentences import embedding_inputs, sentence_rows
from rag.ingest.chunking import chunk_document
from rag.ingest.documents import Document
from rag.ingest.readers.base import READER_VERSION
from rag.stores.codec import SENTENCE_DTYPE
from rag.stores.manifest import SENTENCE_VECTORS, FileEntry, Manifest
from rag.stores.postgres import PostgresStore
from rag.stores.postgres_schema import (
    EmbeddedFile,
    State,
    connect,
    create_tables,
    manifest_of,
    previous_marks,
    read_state,
    set_hnsw,
    sql,
    swap_in,
    write_file,
    write_meta,
)

__all__ = ["sync_postgres"]

logger = logging.getLogger(__name__)


LOCK_TIMEOUT_S = 600.0
STAGING_SUFFIX = "_next"  # a rebuild writes into <schema>_next, then moves its tables into <schema>
LOCK_POLL_S = 0.2


@contextmanager
def _advisory_lock(conn: Any, schema: str) -> Iterator[None]:
    """Hold the schema's write lock (session-level advisory lock), waiting up to ``LOCK_TIMEOUT_S``.

    Raises:
        IndexLockedError: Another process held it all that time.
    """
    key = f"rag-index:{schema}"
    deadline = time.monotonic() + LOCK_TIMEOUT_S
    while not conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (key,)).fetchone()[0]:
        if time.monotonic() > deadline:
            raise IndexLockedError(
                f"another process has been writing the index in PostgreSQL schema {schema!r} for over "
                f"{LOCK_TIMEOUT_S:.0f} s (advisory lock {key!r})"
            )
        time.sleep(LOCK_POLL_S)
    try:
        yield
    finally:
        conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (key,))


def _embed(settings: Settings, embedder: Embedder, documents: Sequence[Document], progress: bool) -> list[EmbeddedFile]:
    """Chunk and embed ``documents`` exactly as ``rag.indexing.faiss`` does for FAISS.

    One pass of the model per chunk gives its vector and its sentences' vectors; a sentence in the overlap
    of two chunks keeps its first chunk's reading, as the FAISS index's shared sentence rows do
    (``rag.indexing.sentences``).
    """
    split = [chunk_document(doc, settings.chunk_size, settings.chunk_overlap) for doc in documents]
    all_chunks = [c for _, chunks in split for c in chunks]
    texts, spans = embedding_inputs(all_chunks)
    vectors, pooled = embedder.encode_with_spans(texts, spans, progress=progress, desc="Embedding chunks")
    rows, kept = sentence_rows(split)
    sentence_vectors = pooled[kept]
    out = []
    chunk_at = 0
    for doc, (sentences, chunks) in zip(documents, split, strict=True):
        per_chunk = [
            np.ascontiguousarray(sentence_vectors[list(rows[chunk_at + i])].astype(SENTENCE_DTYPE))
            for i in range(len(chunks))
        ]
        out.append(
            EmbeddedFile(doc.source, len(sentences), chunks, vectors[chunk_at : chunk_at + len(chunks)], per_chunk)
        )
        chunk_at += len(chunks)
    return out


def sync_postgres(
    settings: Settings,
    embedder: Embedder,
    *,
    documents: Sequence[Document] | None = None,
    rebuild: bool = False,
    progress: bool = True,
    current: PostgresStore | None = None,
    reindex: Sequence[str] = (),
) -> tuple[PostgresStore, IndexReport]:
    """Make the Postgres index match the documents; return a snapshot of it (``rag.indexing.faiss.sync_index``'s twin).

    Raises:
        ConfigError: The database cannot be reached, lacks pgvector, or int8 storage was asked for.
        DocumentError: The docs folder is missing or holds no readable document.
        IndexVersionError: The schema holds an index written by a newer rag (it is not changed).
        IndexLockedError: Another process held the write lock for longer than ``LOCK_TIMEOUT_S``.
        RagError: The database refused a write; the files written before it stay written.
    """
    if settings.vector_storage == "int8":
        raise ConfigError("the postgres backend stores float32 vectors; int8 vector storage is for the faiss backend")
    conn = connect(str(settings.pg_dsn))  # its own session: the advisory lock belongs to it
    try:
        plan = _plan(conn, settings, embedder, documents, rebuild, current, reindex)
        if plan.report is not None:
            with _advisory_lock(conn, settings.pg_schema):
                # Check again under the lock: another process may have brought the index up to date meanwhile.
                plan = _plan(conn, settings, embedder, documents, rebuild, current, reindex)
                if plan.report is not None:
                    _apply(conn, settings, embedder, plan, progress)
        report = plan.report
    finally:
        conn.close()
    if report is None:
        store = plan.view if isinstance(plan.view, PostgresStore) else PostgresStore.load(settings)
        return store, IndexReport("reused", "up to date", total_chunks=len(store))
    store = PostgresStore.load(settings, previous=plan.view if isinstance(plan.view, PostgresStore) else current)
    report.total_chunks = len(store)
    logger.info("%s", report.summary())
    return store, report


@dataclass
class _Plan:
    """What a sync must do: the database's state (None: build from scratch), the corpus, and the report."""

    state: State | None
    corpus: Corpus
    report: IndexReport | None  # None: the index is up to date
    view: Any = None


@dataclass
class _StateView:
    """The database's files and settings, in the shape the FAISS refresh check reads (``.manifest``)."""

    manifest: Manifest


def _plan(
    conn: Any,
    settings: Settings,
    embedder: Embedder,
    documents: Sequence[Document] | None,
    rebuild: bool,
    current: PostgresStore | None,
    reindex: Sequence[str] = (),
) -> _Plan:
    """Compare the database with the documents and settings, with the same checks as the FAISS index."""
    schema = settings.pg_schema
    try:
        state = read_state(conn, schema)
    except IndexVersionError:
        raise  # written by a newer rag: never overwrite it
    except CorruptIndexError as exc:
        logger.warning("the index is unusable (%s); rebuilding it", exc)
        state = None
    reason = "rebuild requested" if rebuild else ""
    if state is None:
        reason = f"no index in PostgreSQL schema {schema!r} yet"
    elif not reason:
        changes = setting_changes(manifest_of(state), settings, embedder)
        reason = f"settings changed: {changes}" if changes else ""
    if reason:
        logger.info("building the index in PostgreSQL: %s", reason)
        corpus = (
            Corpus.of(documents)
            if documents is not None
            else scan_docs(settings.docs_dir, None, settings.read_options(), settings.index_dir)
        )
        return _Plan(None, corpus, IndexReport("built", reason))
    assert state is not None
    view: Any = current
    if current is None or current.generation != state.generation or current.schema != schema:
        view = _StateView(manifest_of(state))
    corpus = (
        Corpus.of(documents)
        if documents is not None
        else scan_docs(settings.docs_dir, view.manifest, settings.read_options(), settings.index_dir)
    )
    return _Plan(state, corpus, plan_refresh(settings, view.manifest, corpus, reindex), view)


def _apply(conn: Any, settings: Settings, embedder: Embedder, plan: _Plan, progress: bool) -> None:
    """Write what the plan says: embed first, then one transaction per step (a build replaces the tables)."""
    import psycopg

    schema, state, corpus, report = settings.pg_schema, plan.state, plan.corpus, plan.report
    assert report is not None
    wanted = {
        "embedding_model": embedder.name,
        "dimension": embedder.dimension,
        "chunk_size": settings.chunk_size,
        "chunk_overlap": settings.chunk_overlap,
        "sentence_vectors": SENTENCE_VECTORS,
        "readers": READER_VERSION,
    }
    todo = sorted(corpus.hashes) if state is None else sorted({*report.added, *report.changed})
    # Embedding takes most of the time: the database is not touched until it is done, so readers keep
    # the previous index meanwhile (and a failed embedding changes nothing).
    embedded = _embed(settings, embedder, [corpus.document(s) for s in todo], progress)
    report.embedded_chunks = sum(len(item.chunks) for item in embedded)
    generation = 0 if state is None else state.generation
    target = schema  # where the rows go: a build of a schema that holds an index goes to a staging schema
    try:
        if state is None:
            generation, first_id = previous_marks(conn, schema)
            if first_id > 1 or generation > 0:
                # Readers keep using the old index until the new one is complete, then switch at once.
                target = f"{schema}{STAGING_SUFFIX}"
            create_tables(conn, target, {**wanted, "index_type": "flat"}, generation, first_id)
        if report.removed and state is not None:
            with conn.transaction():
                conn.execute(sql("DELETE FROM {s}.files WHERE source = ANY(%s)", schema), (report.removed,))
        restamped = [s for s in corpus.stamps if state is not None and s in state.files and s not in todo]
        if restamped:
            with conn.transaction():
                for source in restamped:
                    size, mtime_ns = corpus.stamps[source]
                    conn.execute(
                        sql("UPDATE {s}.files SET size = %s, mtime_ns = %s WHERE source = %s", schema),
                        (size, mtime_ns, source),
                    )
        for item in embedded:
            size, mtime_ns = corpus.stamps.get(item.source, (-1, -1))
            doc = corpus.document(item.source)
            entry = FileEntry(
                corpus.hashes[item.source],
                len(item.chunks),
                item.sentence_count,
                "",
                size,
                mtime_ns,
                kind=doc.kind,
                pages=len(doc.pages),
            )
            write_file(conn, target, item, entry)
        total = int(conn.execute(sql("SELECT count(*) FROM {s}.chunks", target)).fetchone()[0])
        index_type = resolve_index_type(settings, total)
        set_hnsw(conn, target, index_type == "hnsw")
        # The settings and a new generation, last: a reader that sees it finds every file written before.
        with conn.transaction():
            write_meta(conn, target, {"settings": {**wanted, "index_type": index_type}, "generation": generation + 1})
        if target != schema:
            swap_in(conn, target, schema)
    except psycopg.Error as exc:
        raise RagError(f"cannot write the index to PostgreSQL schema {schema!r}: {str(exc).strip()}") from exc
