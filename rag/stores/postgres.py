"""The index in PostgreSQL with pgvector: one index shared by every process and machine that connects to it.

Everything the FAISS index keeps in files lives in one schema (``Settings.pg_schema``, ``rag`` by default):

    rag_meta   format_version (of this layout), the settings the index was built with, and a generation
               number that every refresh bumps
    files      one row per source file: its SHA-256, size and time (what the refresh check compares),
               chunk and sentence counts, and optional metadata (kind, pages, a JSONB ``meta``)
    chunks     one row per live chunk: source, offsets, text, sentence offsets, optional page / page label
               / section / JSONB ``meta``; the chunk vector (``vector(d)``; an HNSW index when the index
               type is ``hnsw``); the sentence vectors the extractive answerer ranks (float16, as FAISS keeps
               them); and the chunk's terms, tokenized by ``rag.retrieval.tokenize``, with their counts, as a
               ``tsvector`` under a GIN index: the keyword half of hybrid retrieval runs BM25 over it in SQL

so both backends rank with the same tokens, the same BM25 formula and the same vectors, and give the same
answers (``tests/test_postgres_store.py`` compares every eval metric).

Writers take a PostgreSQL advisory lock (per schema) instead of the file lock, and write one transaction
per refresh step: removed files in one, each changed or added file in its own, then the settings and the
generation. Embedding comes first, so the database is only touched once the vectors exist. Readers never
wait: a reader sees each file either as it was or as it is now, and keeps its own snapshot of the chunk
list (rows) from when it loaded. New chunks always get larger ids than the ones a snapshot knows, so a
snapshot's searches simply never return them; ``PostgresStore.is_current()`` says when a newer generation
exists, and a ``Bot`` checks it every few seconds and loads the latest (``rag.stores.SharedStore``). A
rebuild (another model or chunk size) fills ``<schema>_next`` and moves its tables in within one
transaction, ids and generation carrying on from the index it replaces.

Filtered search (``sources=``) returns the full ``k``: pgvector 0.6's HNSW collects ``ef_search`` candidates
first and filters afterwards, so under a selective filter it returns too few rows. A scope of up to
``EXACT_SCOPE_ROWS`` chunks is searched exactly (the B-tree on ``source``, then ``ORDER BY embedding <#> q``);
a larger scope goes through HNSW, and falls back to the exact path whenever HNSW came back short.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
import time
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from rag.chunking import Chunk, Place, Sentence, chunk_document
from rag.config import Settings
from rag.documents import Document
from rag.embeddings import Embedder, Vectors
from rag.errors import ConfigError, CorruptIndexError, IndexLockedError, IndexVersionError, RagError
from rag.indexing import IndexReport, _compare, _Corpus, _scan, _setting_changes, resolve_index_type
from rag.retrieval import tokenize
from rag.store import HNSW_EF_SEARCH, SENTENCE_DTYPE, SENTENCE_VECTORS, FileEntry, Manifest
from rag.stores.base import Scope

__all__ = ["FORMAT_VERSION", "PostgresStore", "connect", "sync_postgres"]

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1  # of the tables below; a database written by a newer rag is refused, never changed
MIN_PGVECTOR = (0, 6)
# HNSW build parameters: pgvector's defaults. 100k x 384-d builds in about 48 s here, recall@10 0.93-0.997.
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 64
MAX_EF_SEARCH = 1000  # pgvector's upper bound for hnsw.ef_search
# A filtered search whose scope holds at most this many chunks scans them exactly (an exact scan of 50k
# 384-d vectors takes tens of milliseconds; HNSW under a filter that selective returns too few rows).
EXACT_SCOPE_ROWS = 50_000
LOCK_TIMEOUT_S = 600.0
STAGING_SUFFIX = "_next"  # a rebuild writes into <schema>_next, then moves its tables into <schema>
LOCK_POLL_S = 0.2
VECTOR_CACHE_ROWS = 4096  # chunks whose vectors a store keeps after a look-up
MAX_LEXEME_CHARS = 500  # a longer "word" (a hash, base64) cannot go into a tsvector and is not a keyword
BM25_K1, BM25_B = 1.5, 0.75  # rag.retrieval.BM25's defaults


# ----------------------------------------------------------------------------------- connecting


def connect(dsn: str) -> Any:
    """A connection to ``dsn`` with pgvector's types registered (autocommit; transactions are explicit).

    Raises:
        ConfigError: psycopg is missing, the server cannot be reached, or pgvector is missing or too old.
    """
    try:
        import psycopg
        from pgvector.psycopg import register_vector
    except ImportError as exc:
        raise ConfigError(
            f"the postgres backend needs psycopg and pgvector ({exc}); run: pip install 'rag[postgres]'"
        ) from None
    try:
        conn = psycopg.connect(dsn, autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as exc:
        raise ConfigError(f"cannot connect to PostgreSQL at {_redacted(dsn)}: {str(exc).strip()}") from None
    try:
        version = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
        if version is None:
            try:
                conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            except psycopg.Error as exc:
                raise ConfigError(
                    f"PostgreSQL at {_redacted(dsn)} lacks the pgvector extension and it cannot be created here "
                    f"({str(exc).strip()}); ask its administrator to run CREATE EXTENSION vector"
                ) from None
            version = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
        if version is None:
            raise ConfigError(f"PostgreSQL at {_redacted(dsn)} has no pgvector extension after CREATE EXTENSION")
        numbers = tuple(int(part) for part in str(version[0]).split(".")[:2])
        if numbers < MIN_PGVECTOR:
            raise ConfigError(f"pgvector {version[0]} is too old; rag needs pgvector 0.6 or later")
        register_vector(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def _redacted(dsn: str) -> str:
    """The DSN without its password, for messages."""
    if "@" in dsn and "://" in dsn:
        scheme, rest = dsn.split("://", 1)
        credentials, host = rest.rsplit("@", 1)
        return f"{scheme}://{credentials.split(':', 1)[0]}@{host}"
    return dsn


class _Pool:
    """A few connections shared by a process's threads (the chat answers questions in parallel)."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._idle: list[Any] = []
        self._lock = threading.Lock()

    @contextmanager
    def connection(self) -> Iterator[Any]:
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        if conn is None or conn.closed:
            conn = connect(self.dsn)
        try:
            yield conn
        except BaseException:
            conn.close()  # in an unknown state: never hand it to another thread
            raise
        with self._lock:
            self._idle.append(conn)

    def close(self) -> None:
        with self._lock:
            for conn in self._idle:
                conn.close()
            self._idle.clear()


_POOLS: dict[str, _Pool] = {}
_POOLS_LOCK = threading.Lock()


def _pool(dsn: str) -> _Pool:
    with _POOLS_LOCK:
        if dsn not in _POOLS:
            _POOLS[dsn] = _Pool(dsn)
        return _POOLS[dsn]


# --------------------------------------------------------------------------------------- schema


def _sql(text: str, schema: str) -> str:
    """``text`` with ``{s}`` replaced by the schema's name (validated by ``Settings``: a plain SQL name)."""
    return text.replace("{s}", schema)


_TABLES = """
CREATE TABLE {s}.rag_meta (key text PRIMARY KEY, value jsonb NOT NULL);
CREATE TABLE {s}.files (
    source text PRIMARY KEY,
    sha256 text NOT NULL,
    chunks integer NOT NULL,
    sentences integer NOT NULL,
    terms bigint NOT NULL DEFAULT 0,
    size bigint NOT NULL DEFAULT -1,
    mtime_ns bigint NOT NULL DEFAULT -1,
    kind text NOT NULL DEFAULT '',
    pages integer NOT NULL DEFAULT 0,
    meta jsonb NOT NULL DEFAULT '{}',
    indexed_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE {s}.chunks (
    id bigserial PRIMARY KEY,
    source text NOT NULL REFERENCES {s}.files (source) ON DELETE CASCADE,
    chunk_id text NOT NULL,
    start_offset integer NOT NULL,
    end_offset integer NOT NULL,
    text text NOT NULL,
    sentences integer[] NOT NULL,
    page integer,
    page_label text,
    section text,
    meta jsonb NOT NULL DEFAULT '{}',
    embedding vector({dimension}) NOT NULL,
    sentence_vectors bytea NOT NULL,
    lexemes text[] NOT NULL,
    freqs integer[] NOT NULL,
    n_terms integer NOT NULL,
    terms tsvector GENERATED ALWAYS AS (array_to_tsvector(lexemes)) STORED
);
-- Vectors inline in the row, never moved out to TOAST (pgvector's default): an exact scan then reads them in
-- place (13.7k chunks: 37.7 -> 12.0 ms). No semicolons in these comments: the text is split on them.
ALTER TABLE {s}.chunks ALTER COLUMN embedding SET STORAGE PLAIN;
CREATE INDEX chunks_source ON {s}.chunks (source);
CREATE INDEX chunks_terms ON {s}.chunks USING gin (terms);
"""
_OUR_TABLES = ("chunks", "files", "rag_meta")  # in the order they can be dropped
_CHUNK_COLUMNS = (
    "source, chunk_id, start_offset, end_offset, text, sentences, page, page_label, section, meta, "
    "embedding, sentence_vectors, lexemes, freqs, n_terms"
)
_CHUNK_TYPES = [
    "text", "text", "int4", "int4", "text", "int4[]", "int4", "text", "text", "jsonb",
    "vector", "bytea", "text[]", "int4[]", "int4",
]  # fmt: skip


@dataclass
class _State:
    """What the database says about the index: None for a schema that holds none yet."""

    format_version: int
    settings: dict[str, Any]
    files: dict[str, FileEntry]
    generation: int


def _read_state(conn: Any, schema: str) -> _State | None:
    """The index's version, settings, files and generation; None when the schema holds no index.

    Raises:
        IndexVersionError: The tables were written by a newer rag.
        CorruptIndexError: They are from an older layout, or unreadable.
    """
    exists = conn.execute("SELECT to_regclass(%s)", (f"{schema}.rag_meta",)).fetchone()[0]
    if exists is None:
        return None
    meta = dict(conn.execute(_sql("SELECT key, value FROM {s}.rag_meta", schema)).fetchall())
    version = meta.get("format_version")
    if isinstance(version, int) and version > FORMAT_VERSION:
        raise IndexVersionError(
            f"the index in PostgreSQL schema {schema!r} was written by a newer version of rag (layout {version}, "
            f"this version reads up to {FORMAT_VERSION}); upgrade rag, or use another schema (RAG_PG_SCHEMA)"
        )
    if version != FORMAT_VERSION or not isinstance(meta.get("settings"), dict):
        raise CorruptIndexError(
            f"the index in PostgreSQL schema {schema!r} has layout {version!r}, not {FORMAT_VERSION}"
        )
    rows = conn.execute(
        _sql("SELECT source, sha256, chunks, sentences, size, mtime_ns, kind, pages, indexed_at FROM {s}.files", schema)
    ).fetchall()
    known = {f.name for f in dataclasses.fields(FileEntry)}
    files = {}
    for source, sha256, chunks, sentences, size, mtime_ns, kind, pages, indexed_at in rows:
        # Fields other engineers' FileEntry may have (kind, pages, indexed_at) are filled when it has them.
        extra = {"kind": kind, "pages": pages, "indexed_at": indexed_at.timestamp()}
        files[source] = FileEntry(
            sha256, chunks, sentences, "postgres", size, mtime_ns, **{k: v for k, v in extra.items() if k in known}
        )
    return _State(version, meta["settings"], files, int(meta.get("generation", 0)))


def _manifest(state: _State) -> Manifest:
    """The FAISS-style manifest of a Postgres index, so that refresh checks run the same code on both."""
    s = state.settings
    return Manifest(
        embedding_model=str(s["embedding_model"]),
        dimension=int(s["dimension"]),
        chunk_size=int(s["chunk_size"]),
        chunk_overlap=int(s["chunk_overlap"]),
        files=state.files,
        sentence_vectors=str(s["sentence_vectors"]),
        index_type=str(s["index_type"]),
        vector_storage="float32",
    )


def _create(conn: Any, schema: str, settings: dict[str, Any], generation: int, first_id: int) -> None:
    """Replace our tables in ``schema`` with empty ones for ``settings`` (one transaction).

    Chunk ids start at ``first_id`` and the generation at ``generation``: both carry on from the index
    this one replaces, so a reader still holding a snapshot of that one never mistakes new rows for its own.
    """
    with conn.transaction():
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        for table in _OUR_TABLES:
            conn.execute(_sql(f"DROP TABLE IF EXISTS {{s}}.{table} CASCADE", schema))
        for statement in _TABLES.replace("{dimension}", str(int(settings["dimension"]))).split(";"):
            if statement.strip():
                conn.execute(_sql(statement, schema))
        conn.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), %s, false)", (f"{schema}.chunks", first_id))
        _write_meta(conn, schema, {"format_version": FORMAT_VERSION, "settings": settings, "generation": generation})


def _previous_marks(conn: Any, schema: str) -> tuple[int, int]:
    """The generation of the index in ``schema`` and the id after its last chunk; (0, 1) when there is none."""
    import psycopg

    if conn.execute("SELECT to_regclass(%s)", (f"{schema}.rag_meta",)).fetchone()[0] is None:
        return 0, 1
    try:
        row = conn.execute(_sql("SELECT value FROM {s}.rag_meta WHERE key = 'generation'", schema)).fetchone()
        last = conn.execute(_sql("SELECT coalesce(max(id), 0) FROM {s}.chunks", schema)).fetchone()
    except psycopg.Error:  # tables of an unusable older layout: nothing to carry on from
        return 0, 1
    return (int(row[0]) if row is not None else 0), int(last[0]) + 1


def _swap_in(conn: Any, staging: str, schema: str) -> None:
    """Move our freshly built tables from ``staging`` into ``schema``, replacing the old ones (one transaction)."""
    with conn.transaction():
        for table in _OUR_TABLES:
            conn.execute(_sql(f"DROP TABLE IF EXISTS {{s}}.{table} CASCADE", schema))
        for table in reversed(_OUR_TABLES):
            conn.execute(f"ALTER TABLE {staging}.{table} SET SCHEMA {schema}")  # its indexes and sequence follow
        conn.execute(f"DROP SCHEMA {staging}")


def _write_meta(conn: Any, schema: str, values: dict[str, Any]) -> None:
    from psycopg.types.json import Jsonb

    for key, value in values.items():
        conn.execute(
            _sql(
                "INSERT INTO {s}.rag_meta (key, value) VALUES (%s, %s) "
                "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                schema,
            ),
            (key, Jsonb(value)),
        )


def _set_hnsw(conn: Any, schema: str, wanted: bool) -> None:
    """Create or drop the HNSW index of the chunk vectors, as the index type says."""
    present = conn.execute("SELECT to_regclass(%s)", (f"{schema}.chunks_embedding",)).fetchone()[0] is not None
    if wanted and not present:
        logger.info("building the HNSW index of the chunk vectors")
        conn.execute(
            _sql(
                "CREATE INDEX chunks_embedding ON {s}.chunks USING hnsw (embedding vector_ip_ops) "
                f"WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION})",
                schema,
            )
        )
    elif present and not wanted:
        conn.execute(_sql("DROP INDEX {s}.chunks_embedding", schema))


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


# ---------------------------------------------------------------------------------------- store


class PostgresStore:
    """A snapshot of a Postgres index: its live chunks by row, searched and looked up in the database.

    ``chunks`` are read once, when the store is loaded; vectors stay in the database and are fetched for the
    rows a question retrieves (and kept in a small cache). Safe to share between threads.
    """

    def __init__(
        self,
        settings: Settings,
        manifest: Manifest,
        ids: np.ndarray,
        chunks: list[Chunk],
        generation: int,
        average_terms: float,
    ) -> None:
        self.settings = settings
        self.schema = settings.pg_schema
        self._manifest = manifest
        self._ids = ids  # the database id of each row, ascending
        self._chunks = chunks
        self.generation = generation
        self.average_terms = average_terms
        self._max_id = int(ids[-1]) if len(ids) else 0
        self._pool = _pool(str(settings.pg_dsn))
        self._vectors: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._scope_sizes: dict[str, int] = {name: entry.chunks for name, entry in manifest.files.items()}

    def __repr__(self) -> str:
        return f"PostgresStore(schema={self.schema!r}, chunks={len(self)}, generation={self.generation})"

    @property
    def manifest(self) -> Manifest:
        """The index's settings and files, as when this snapshot was loaded."""
        return self._manifest

    @property
    def chunks(self) -> Sequence[Chunk]:
        """The live chunks; ``chunks[row]`` is chunk ``row``."""
        return self._chunks

    def __len__(self) -> int:
        return len(self._chunks)

    @classmethod
    def load(cls, settings: Settings, previous: PostgresStore | None = None) -> PostgresStore:
        """Read the index's chunks and settings from the database.

        ``previous``, an earlier snapshot of the same index, lends the chunks it already has: rows are never
        changed in place (a changed file gets new rows), so only the rows it lacks are read.

        Raises:
            IndexNotFoundError: The schema holds no index.
            IndexVersionError: It was written by a newer rag.
        """
        from rag.errors import IndexNotFoundError

        schema = settings.pg_schema
        known: dict[int, Chunk] = {}
        if previous is not None and previous.schema == schema:
            known = dict(zip(previous._ids.tolist(), previous._chunks, strict=True))
        with _pool(str(settings.pg_dsn)).connection() as conn, conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")  # chunks and files from one moment
            state = _read_state(conn, schema)
            if state is None:
                raise IndexNotFoundError(f"no index in PostgreSQL schema {schema!r} yet")
            ids = [row[0] for row in conn.execute(_sql("SELECT id FROM {s}.chunks ORDER BY id", schema))]
            wanted = [i for i in ids if i not in known]
            columns = "id, chunk_id, source, start_offset, end_offset, text, sentences, page, page_label, section, meta"
            if len(wanted) > len(ids) // 2:
                rows = conn.execute(_sql(f"SELECT {columns} FROM {{s}}.chunks ORDER BY id", schema)).fetchall()
            else:
                statement = _sql(f"SELECT {columns} FROM {{s}}.chunks WHERE id = ANY(%s) ORDER BY id", schema)
                rows = conn.execute(statement, (wanted,)).fetchall() if wanted else []
            totals = conn.execute(
                _sql("SELECT coalesce(sum(terms), 0), coalesce(sum(chunks), 0) FROM {s}.files", schema)
            )
            terms, counted = totals.fetchone()
        read = {}
        for i, chunk_id, source, start, end, text, spans, page, page_label, section, meta in rows:
            read[i] = Chunk(
                chunk_id,
                source,
                start,
                end,
                text,
                tuple(Sentence(spans[n], spans[n + 1]) for n in range(0, len(spans), 2)),
                page,
                page_label,
                section,
                tuple(Place(*place) for place in (meta or {}).get("places", ())),
            )
        chunks = [read[i] if i in read else known[i] for i in ids]
        average_terms = int(terms) / int(counted) if counted else 0.0
        ids_array = np.asarray(ids, dtype=np.int64)
        return cls(settings, _manifest(state), ids_array, chunks, state.generation, average_terms)

    def is_current(self) -> bool:
        """Whether the database still holds the generation this snapshot was loaded from."""
        with self._pool.connection() as conn:
            row = conn.execute(_sql("SELECT value FROM {s}.rag_meta WHERE key = 'generation'", self.schema)).fetchone()
        return row is not None and int(row[0]) == self.generation

    def latest(self) -> PostgresStore:
        """A snapshot of the index as the database holds it now (reading only the chunks this one lacks)."""
        return PostgresStore.load(self.settings, previous=self)

    def _rows_of(self, ids: Sequence[int]) -> list[int]:
        """Rows of database ids; ids this snapshot lacks (removed meanwhile) come back as -1."""
        found = np.searchsorted(self._ids, np.asarray(ids, dtype=np.int64))
        found = np.minimum(found, max(len(self._ids) - 1, 0))
        return [int(r) if len(self._ids) and self._ids[r] == i else -1 for r, i in zip(found, ids, strict=True)]

    # ---------------------------------------------------------------------------------- search

    def search_scope(self, query_vector: Vectors, k: int, scope: Scope) -> list[tuple[int, float]]:
        """Up to ``k`` pairs among the chunks of ``scope``'s documents, best first (see ``search``)."""
        return self.search(query_vector, k, sources=scope.sources)

    def search(self, query_vector: Vectors, k: int, sources: Collection[str] | None = None) -> list[tuple[int, float]]:
        """Up to ``k`` ``(row, cosine similarity)`` pairs, best first; only chunks of ``sources`` when given.

        Exact (a scan) unless the index type is ``hnsw``; a filtered search is exact for small scopes and
        always returns ``min(k, chunks in scope)`` rows.
        """
        scope = None if sources is None else sorted(set(sources))
        in_scope = len(self) if scope is None else sum(self._scope_sizes.get(s, 0) for s in scope)
        k = min(k, in_scope)
        if k <= 0:
            return []
        query = np.ascontiguousarray(query_vector, dtype=np.float32).reshape(-1)
        use_graph = self._manifest.index_type == "hnsw" and (scope is None or in_scope > EXACT_SCOPE_ROWS)
        hits = self._query(query, k, scope, use_graph)
        if use_graph and len(hits) < k:
            logger.debug("HNSW returned %d of %d rows under a filter; searching exactly", len(hits), k)
            hits = self._query(query, k, scope, graph=False)
        return hits

    def _query(self, query: np.ndarray, k: int, scope: list[str] | None, graph: bool) -> list[tuple[int, float]]:
        where = "id <= %(max_id)s" + (" AND source = ANY(%(scope)s)" if scope is not None else "")
        statement = _sql(
            f"SELECT id, embedding <#> %(q)s AS distance FROM {{s}}.chunks WHERE {where} ORDER BY distance LIMIT %(k)s",
            self.schema,
        )
        params = {"q": query, "k": k, "max_id": self._max_id, "scope": scope}
        with self._pool.connection() as conn, conn.transaction():
            if graph:
                conn.execute(f"SET LOCAL hnsw.ef_search = {min(max(HNSW_EF_SEARCH, 2 * k), MAX_EF_SEARCH)}")
            else:
                conn.execute("SET LOCAL enable_indexscan = off")  # never the graph: an exact scan
            found = conn.execute(statement, params).fetchall()
        rows = self._rows_of([i for i, _ in found])
        return [(row, -float(distance)) for row, (_, distance) in zip(rows, found, strict=True) if row >= 0]

    # ------------------------------------------------------------------------------- vectors

    def _fetch(self, rows: Sequence[int]) -> None:
        """Read the vectors of ``rows`` not cached yet (one query)."""
        missing = sorted({int(r) for r in rows} - self._vectors.keys())
        if not missing:
            return
        ids = [int(self._ids[r]) for r in missing]
        with self._pool.connection() as conn:
            found = conn.execute(
                _sql("SELECT id, embedding, sentence_vectors FROM {s}.chunks WHERE id = ANY(%s)", self.schema), (ids,)
            ).fetchall()
        if len(self._vectors) + len(found) > VECTOR_CACHE_ROWS:
            self._vectors = {}  # bounded memory; the rows of a question are fetched again at once
        dimension = self._manifest.dimension
        by_id = {i: (vector, blob) for i, vector, blob in found}
        for row, i in zip(missing, ids, strict=True):
            if i not in by_id:
                # Removed by a refresh since this snapshot was loaded: its text is still known, not its vectors.
                logger.warning("chunk %s was removed from the index meanwhile", self._chunks[row].id)
                sentences = len(self._chunks[row].sentences)
                self._vectors[row] = (np.zeros(dimension, np.float32), np.zeros((sentences, dimension), SENTENCE_DTYPE))
                continue
            vector, blob = by_id[i]
            sentence_vectors = np.frombuffer(blob, dtype=SENTENCE_DTYPE).reshape(-1, dimension)
            self._vectors[row] = (np.asarray(vector.to_numpy(), dtype=np.float32), sentence_vectors)

    def chunk_vectors(self, rows: Sequence[int] | None = None) -> Vectors:
        """Float vectors of the given rows (all when None: reads every vector)."""
        wanted = list(range(len(self))) if rows is None else [int(r) for r in rows]
        if not wanted:
            return np.zeros((0, self._manifest.dimension), dtype=np.float32)
        if rows is None:
            return self._all_vectors()
        self._fetch(wanted)
        return np.vstack([self._vectors[r][0] for r in wanted]).astype(np.float32)

    def _all_vectors(self) -> Vectors:
        vectors = np.zeros((len(self), self._manifest.dimension), dtype=np.float32)
        with self._pool.connection() as conn:
            cursor = conn.execute(
                _sql("SELECT id, embedding FROM {s}.chunks WHERE id <= %s ORDER BY id", self.schema), (self._max_id,)
            )
            for i, vector in cursor:
                row = self._rows_of([i])[0]
                if row >= 0:
                    vectors[row] = vector.to_numpy()
        return vectors

    def sentence_vectors_of(self, row: int) -> np.ndarray:
        """The vectors of chunk ``row``'s sentences (float16), in the order of its sentences."""
        self._fetch([row])
        return self._vectors[int(row)][1]

    # ------------------------------------------------------------------------------- keywords

    def keyword_index(self) -> PostgresKeywords:
        """BM25 over the database's full-text index, as of this snapshot."""
        return PostgresKeywords(self)


class PostgresKeywords:
    """BM25 (``rag.retrieval.BM25``'s formula and tokens) computed in SQL over the chunks' ``tsvector``.

    The GIN index finds the chunks holding a query term; their stored term counts give the scores.
    Document frequencies are counted in the database and cached for this snapshot.
    """

    def __init__(self, store: PostgresStore) -> None:
        self.store = store
        self.size = len(store)
        self._frequencies: dict[str, int] = {}
        self._lock = threading.Lock()

    def document_frequencies(self, terms: Collection[str]) -> dict[str, int]:
        """How many chunks hold each term (one query for those not cached)."""
        with self._lock:
            missing = sorted(set(terms) - self._frequencies.keys())
        if missing:
            store = self.store
            with store._pool.connection() as conn:
                counts = conn.execute(
                    _sql(
                        "SELECT count(c.id) FROM unnest(%s::text[]) WITH ORDINALITY AS q(term, n) "
                        "LEFT JOIN {s}.chunks c ON c.terms @@ q.term::tsquery AND c.id <= %s "
                        "GROUP BY q.n ORDER BY q.n",
                        store.schema,
                    ),
                    ([_tsquery_term(t) for t in missing], store._max_id),
                ).fetchall()
            with self._lock:
                self._frequencies.update({t: int(c) for t, (c,) in zip(missing, counts, strict=True)})
        with self._lock:
            return {t: self._frequencies[t] for t in terms}

    def document_frequency(self, term: str) -> int:
        """How many chunks hold the (tokenized) term."""
        return self.document_frequencies([term])[term]

    def idf(self, term: str) -> float:
        """Inverse document frequency, as ``rag.retrieval.BM25.idf``."""
        df = self.document_frequency(term)
        return math.log(1 + (self.size - df + 0.5) / (df + 0.5))

    def top(self, query: str, k: int, scope: Scope | None = None) -> list[int]:
        """Rows of the ``k`` best-scoring chunks holding a query term (of ``scope``'s documents), best first."""
        sources = None if scope is None else scope.sources
        terms = sorted({t for t in tokenize(query) if len(t) <= MAX_LEXEME_CHARS})
        if not terms or k <= 0:
            return []
        frequencies = self.document_frequencies(terms)
        terms = [t for t in terms if frequencies[t]]
        if not terms:
            return []
        idfs = [math.log(1 + (self.size - frequencies[t] + 0.5) / (frequencies[t] + 0.5)) for t in terms]
        store = self.store
        in_scope = "" if sources is None else " AND c.source = ANY(%(scope)s)"
        # The GIN index finds the chunks holding a query term; their term lists, unnested once each, give the
        # counts. (Looking each query term up with array_position instead was slower: p50 14.7 vs 11.7 ms,
        # p95 107 vs 61 ms, for the eval questions over 10k chunks of real prose.)
        statement = _sql(
            "SELECT c.id, sum(q.idf * t.freq * %(k1p)s / (t.freq + %(k1)s * (1 - %(b)s + %(b)s * c.n_terms / %(avg)s)))"
            " AS score FROM {s}.chunks c"
            " CROSS JOIN LATERAL unnest(c.lexemes, c.freqs) AS t(term, freq)"
            " JOIN unnest(%(terms)s::text[], %(idfs)s::float8[]) AS q(term, idf) ON q.term = t.term"
            f" WHERE c.terms @@ %(tsquery)s::tsquery AND c.id <= %(max_id)s{in_scope}"
            " GROUP BY c.id ORDER BY score DESC, c.id LIMIT %(k)s",
            store.schema,
        )
        params = {
            "k1p": BM25_K1 + 1,
            "k1": BM25_K1,
            "b": BM25_B,
            "avg": max(store.average_terms, 1e-9),
            "terms": terms,
            "idfs": idfs,
            "tsquery": " | ".join(_tsquery_term(t) for t in terms),
            "max_id": store._max_id,
            "scope": None if sources is None else sorted(set(sources)),
            "k": k,
        }
        with store._pool.connection() as conn:
            found = conn.execute(statement, params).fetchall()
        return [row for row in store._rows_of([i for i, _ in found]) if row >= 0]


def _tsquery_term(term: str) -> str:
    """A term as a quoted tsquery operand: taken as it is, never parsed or stemmed by PostgreSQL."""
    return "'" + term.replace("\\", "\\\\").replace("'", "''") + "'"


def _terms_of(text: str) -> tuple[list[str], list[int], int]:
    """The chunk's distinct terms and their counts (what BM25 scores), and its number of terms."""
    tokens = tokenize(text)
    counts: dict[str, int] = {}
    for token in tokens:
        if len(token) <= MAX_LEXEME_CHARS:
            counts[token] = counts.get(token, 0) + 1
    return list(counts), list(counts.values()), len(tokens)


# -------------------------------------------------------------------------------------- writing


@dataclass(frozen=True)
class _Embedded:
    """One document's chunks with their vectors, ready to be written."""

    source: str
    sentence_count: int
    chunks: list[Chunk]
    chunk_vectors: np.ndarray
    sentence_vectors: list[np.ndarray]  # per chunk, float16, one row per sentence


def _embed(settings: Settings, embedder: Embedder, documents: Sequence[Document], progress: bool) -> list[_Embedded]:
    """Chunk and embed ``documents`` exactly as ``rag.indexing`` does for FAISS.

    One pass of the model per chunk gives its vector and its sentences' vectors; a sentence in the overlap
    of two chunks keeps its first chunk's reading, as the FAISS index's shared sentence rows do.
    """
    split = [chunk_document(doc, settings.chunk_size, settings.chunk_overlap) for doc in documents]
    all_chunks = [c for _, chunks in split for c in chunks]
    spans = [[(s.start - c.start, s.end - c.start) for s in c.sentences] for c in all_chunks]
    vectors, pooled = embedder.encode_with_spans(
        [c.text for c in all_chunks], spans, progress=progress, desc="Embedding chunks"
    )
    out = []
    chunk_at = pooled_at = 0
    for doc, (sentences, chunks) in zip(documents, split, strict=True):
        first: dict[Sentence, int] = {}
        per_chunk = []
        for chunk in chunks:
            rows = []
            for sentence in chunk.sentences:
                rows.append(first.setdefault(sentence, pooled_at))
                pooled_at += 1
            per_chunk.append(np.ascontiguousarray(pooled[rows].astype(SENTENCE_DTYPE)))
        out.append(_Embedded(doc.source, len(sentences), chunks, vectors[chunk_at : chunk_at + len(chunks)], per_chunk))
        chunk_at += len(chunks)
    return out


def _write_file(conn: Any, schema: str, item: _Embedded, entry: FileEntry) -> None:
    """Replace one file's rows (one transaction: readers see the old version or the new, never half)."""
    from psycopg.types.json import Jsonb

    terms = [_terms_of(chunk.text) for chunk in item.chunks]
    with conn.transaction():
        conn.execute(_sql("DELETE FROM {s}.files WHERE source = %s", schema), (item.source,))
        conn.execute(
            _sql(
                "INSERT INTO {s}.files (source, sha256, chunks, sentences, terms, size, mtime_ns, kind, pages) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                schema,
            ),
            (
                item.source,
                entry.sha256,
                entry.chunks,
                entry.sentences,
                sum(count for _, _, count in terms),
                entry.size,
                entry.mtime_ns,
                str(getattr(entry, "kind", "")),
                int(getattr(entry, "pages", 0)),
            ),
        )
        with (
            conn.cursor() as cursor,
            cursor.copy(_sql(f"COPY {{s}}.chunks ({_CHUNK_COLUMNS}) FROM STDIN WITH (FORMAT BINARY)", schema)) as copy,
        ):
            copy.set_types(_CHUNK_TYPES)
            for chunk, vector, sentence_vectors, (lexemes, freqs, n_terms) in zip(
                item.chunks, item.chunk_vectors, item.sentence_vectors, terms, strict=True
            ):
                copy.write_row(
                    [
                        chunk.source,
                        chunk.id,
                        chunk.start,
                        chunk.end,
                        chunk.text,
                        [offset for sentence in chunk.sentences for offset in sentence],
                        chunk.page,
                        chunk.page_label,
                        chunk.section,
                        # Where the page or section changes inside the chunk (Chunk.places), for place_at.
                        Jsonb({"places": [list(place) for place in chunk.places]} if chunk.places else {}),
                        np.ascontiguousarray(vector, dtype=np.float32),
                        sentence_vectors.tobytes(),
                        lexemes,
                        freqs,
                        n_terms,
                    ]
                )


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
    """Make the Postgres index match the documents; return a snapshot of it (``rag.indexing.sync_index``'s twin).

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

    state: _State | None
    corpus: _Corpus
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
        state = _read_state(conn, schema)
    except IndexVersionError:
        raise  # written by a newer rag: never overwrite it
    except CorruptIndexError as exc:
        logger.warning("the index is unusable (%s); rebuilding it", exc)
        state = None
    reason = "rebuild requested" if rebuild else ""
    if state is None:
        reason = f"no index in PostgreSQL schema {schema!r} yet"
    elif not reason:
        changes = _setting_changes(_manifest(state), settings, embedder)
        reason = f"settings changed: {changes}" if changes else ""
    if reason:
        logger.info("building the index in PostgreSQL: %s", reason)
        corpus = (
            _Corpus.of(documents)
            if documents is not None
            else _scan(settings.docs_dir, None, settings.read_options(), settings.index_dir)
        )
        return _Plan(None, corpus, IndexReport("built", reason))
    assert state is not None
    view: Any = current
    if current is None or current.generation != state.generation or current.schema != schema:
        view = _StateView(_manifest(state))
    corpus = (
        _Corpus.of(documents)
        if documents is not None
        else _scan(settings.docs_dir, view, settings.read_options(), settings.index_dir)
    )
    return _Plan(state, corpus, _compare(settings, view, corpus, reindex), view)


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
            generation, first_id = _previous_marks(conn, schema)
            if first_id > 1 or generation > 0:
                # Readers keep using the old index until the new one is complete, then switch at once.
                target = f"{schema}{STAGING_SUFFIX}"
            _create(conn, target, {**wanted, "index_type": "flat"}, generation, first_id)
        if report.removed and state is not None:
            with conn.transaction():
                conn.execute(_sql("DELETE FROM {s}.files WHERE source = ANY(%s)", schema), (report.removed,))
        restamped = [s for s in corpus.stamps if state is not None and s in state.files and s not in todo]
        if restamped:
            with conn.transaction():
                for source in restamped:
                    size, mtime_ns = corpus.stamps[source]
                    conn.execute(
                        _sql("UPDATE {s}.files SET size = %s, mtime_ns = %s WHERE source = %s", schema),
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
            _write_file(conn, target, item, entry)
        total = int(conn.execute(_sql("SELECT count(*) FROM {s}.chunks", target)).fetchone()[0])
        index_type = resolve_index_type(settings, total)
        _set_hnsw(conn, target, index_type == "hnsw")
        # The settings and a new generation, last: a reader that sees it finds every file written before.
        with conn.transaction():
            _write_meta(conn, target, {"settings": {**wanted, "index_type": index_type}, "generation": generation + 1})
        if target != schema:
            _swap_in(conn, target, schema)
    except psycopg.Error as exc:
        raise RagError(f"cannot write the index to PostgreSQL schema {schema!r}: {str(exc).strip()}") from exc
