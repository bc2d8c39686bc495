"""The index in PostgreSQL with pgvector: one index shared by every process and machine that connects to it.

A ``PostgresStore`` is a snapshot of the index: its live chunks by row, read once when it is loaded, while the
vectors stay in the database and are fetched for the rows a question retrieves. Readers never wait: a
reader sees each file either as it was or as it is now, and keeps its own snapshot of the chunk list (rows)
from when it loaded. New chunks always get larger ids than the ones a snapshot knows, so a snapshot's
searches simply never return them; ``PostgresStore.is_current()`` says when a newer generation exists, and a
``Bot`` checks it every few seconds and loads the latest (``rag.stores.base.SharedStore``).

Filtered search (``sources=``) returns the full ``k``: pgvector 0.6's HNSW collects ``ef_search`` candidates
first and filters afterwards, so under a selective filter it returns too few rows. A scope of up to
``EXACT_SCOPE_ROWS`` chunks is searched exactly (the B-tree on ``source``, then ``ORDER BY embedding <#> q``);
a larger scope goes through HNSW, and falls back to the exact path whenever HNSW came back short.
``PostgresKeywords`` runs BM25 in SQL over the chunks' terms.

The tables are ``rag.stores.postgres_schema``'s; ``rag.indexing.postgres`` writes them.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from rag.config import Settings
from rag.embeddings import Vectors
from rag.ingest.chunking import Chunk, Place, Sentence
from rag.ingest.terms import tokenize
from rag.stores.base import Scope
from rag.stores.codec import HNSW_EF_SEARCH, SENTENCE_DTYPE
from rag.stores.manifest import Manifest
from rag.stores.postgres_schema import MAX_LEXEME_CHARS, connect, manifest_of, read_state, sql

__all__ = ["PostgresKeywords", "PostgresStore"]

logger = logging.getLogger(__name__)

MAX_EF_SEARCH = 1000  # pgvector's upper bound for hnsw.ef_search
# A filtered search whose scope holds at most this many chunks scans them exactly (an exact scan of 50k
# 384-d vectors takes tens of milliseconds; HNSW under a filter that selective returns too few rows).
EXACT_SCOPE_ROWS = 50_000
VECTOR_CACHE_ROWS = 4096  # chunks whose vectors a store keeps after a look-up
BM25_K1, BM25_B = 1.5, 0.75  # rag.retrieve.bm25.BM25's defaults


# ----------------------------------------------------------------------------------- connecting


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
            state = read_state(conn, schema)
            if state is None:
                raise IndexNotFoundError(f"no index in PostgreSQL schema {schema!r} yet")
            ids = [row[0] for row in conn.execute(sql("SELECT id FROM {s}.chunks ORDER BY id", schema))]
            wanted = [i for i in ids if i not in known]
            columns = "id, chunk_id, source, start_offset, end_offset, text, sentences, page, page_label, section, meta"
            if len(wanted) > len(ids) // 2:
                rows = conn.execute(sql(f"SELECT {columns} FROM {{s}}.chunks ORDER BY id", schema)).fetchall()
            else:
                statement = sql(f"SELECT {columns} FROM {{s}}.chunks WHERE id = ANY(%s) ORDER BY id", schema)
                rows = conn.execute(statement, (wanted,)).fetchall() if wanted else []
            totals = conn.execute(
                sql("SELECT coalesce(sum(terms), 0), coalesce(sum(chunks), 0) FROM {s}.files", schema)
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
        return cls(settings, manifest_of(state), ids_array, chunks, state.generation, average_terms)

    def is_current(self) -> bool:
        """Whether the database still holds the generation this snapshot was loaded from."""
        with self._pool.connection() as conn:
            row = conn.execute(sql("SELECT value FROM {s}.rag_meta WHERE key = 'generation'", self.schema)).fetchone()
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
        statement = sql(
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
        """Read the vectors of ``rows`` not cached yet (one query); all of ``rows`` are cached after it."""
        wanted = {int(r) for r in rows}
        if len(self._vectors) + len(wanted - self._vectors.keys()) > VECTOR_CACHE_ROWS:
            # Bounded memory. Emptied before the look-up, not after, so rows asked for that were cached stay.
            self._vectors = {}
        missing = sorted(wanted - self._vectors.keys())
        if not missing:
            return
        ids = [int(self._ids[r]) for r in missing]
        with self._pool.connection() as conn:
            found = conn.execute(
                sql("SELECT id, embedding, sentence_vectors FROM {s}.chunks WHERE id = ANY(%s)", self.schema), (ids,)
            ).fetchall()
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
                sql("SELECT id, embedding FROM {s}.chunks WHERE id <= %s ORDER BY id", self.schema), (self._max_id,)
            )
            for i, vector in cursor:
                row = self._rows_of([i])[0]
                if row >= 0:
                    vectors[row] = vector.to_numpy()
        return vectors

    def sentence_vectors_of(self, row: int) -> np.ndarray:
        """The vectors of chunk ``row``'s sentences (float16), in the order of its sentences."""
        return self.sentence_vectors([row])[0]

    def sentence_vectors(self, rows: Sequence[int]) -> list[np.ndarray]:
        """``sentence_vectors_of`` each of ``rows``, with their chunk vectors, in one query."""
        self._fetch(rows)
        return [self._vectors[int(row)][1] for row in rows]

    # ------------------------------------------------------------------------------- keywords

    def keyword_index(self) -> PostgresKeywords:
        """BM25 over the database's full-text index, as of this snapshot."""
        return PostgresKeywords(self)


class PostgresKeywords:
    """BM25 (``rag.retrieve.bm25.BM25``'s formula and tokens) computed in SQL over the chunks' ``tsvector``.

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
                    sql(
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
        """Inverse document frequency, as ``rag.retrieve.bm25.BM25.idf``."""
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
        statement = sql(
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


# -------------------------------------------------------------------------------------- writing
