"""What the retriever, the grounding check and the ``Bot`` need of an index: the ``Store`` protocol.

Two stores implement it: ``rag.stores.faiss.ChunkStore`` (FAISS and files under ``index/``, the embedded default)
and ``rag.stores.postgres.PostgresStore`` (PostgreSQL with pgvector, shared by many processes). Both
number their live chunks ``0 .. len(store) - 1`` ("rows"): a row is what a search returns and what the
vector look-ups take.

A store may also rank chunks by keywords itself (``KeywordSearch``): the Postgres store runs BM25 over a
full-text index in the database instead of the retriever building one in memory from every chunk's text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from rag.embeddings import Vectors
from rag.ingest.chunking import Chunk
from rag.stores.manifest import Manifest

__all__ = ["KeywordIndex", "KeywordSearch", "Scope", "SharedStore", "Store"]


@dataclass(frozen=True)
class Scope:
    """The documents a scoped question may be answered from: their names, and their chunks' rows.

    Rankers take whichever suits them: the in-memory BM25 the rows, the database the names.
    """

    sources: frozenset[str]
    rows: np.ndarray


class Store(Protocol):
    """A loaded index: its live chunks by row, their chunk and sentence vectors, and nearest-neighbour search."""

    @property
    def manifest(self) -> Manifest:
        """The index's settings and its files (the refresh check compares these with the docs folder)."""
        ...

    @property
    def chunks(self) -> Sequence[Chunk]:
        """The live chunks; ``chunks[row]`` is chunk ``row``."""
        ...

    def __len__(self) -> int: ...

    def search(self, query_vector: Vectors, k: int) -> list[tuple[int, float]]:
        """Up to ``k`` ``(row, cosine similarity)`` pairs, best first."""
        ...

    def search_scope(self, query_vector: Vectors, k: int, scope: Scope) -> list[tuple[int, float]]:
        """Up to ``k`` pairs among ``scope``'s chunks only, best first.

        Exact, so a scope holding ``k`` chunks gives ``k`` (a filtered approximate search may give fewer).
        """
        ...

    def chunk_vectors(self, rows: Sequence[int] | None = None) -> Vectors:
        """Float vectors of the given rows (all when None)."""
        ...

    def sentence_vectors_of(self, row: int) -> np.ndarray:
        """The vectors of chunk ``row``'s sentences, in the order of its sentences."""
        ...

    def sentence_vectors(self, rows: Sequence[int]) -> list[np.ndarray]:
        """``sentence_vectors_of`` each of ``rows``, read at once (one query on a database)."""
        ...


class KeywordIndex(Protocol):
    """Keyword ranking with the statistics term overlap is weighed by (``rag.retrieve.bm25.BM25`` is one)."""

    @property
    def size(self) -> int:
        """How many chunks are ranked."""
        ...

    def top(self, query: str, k: int, scope: Scope | None = None) -> list[int]:
        """Rows of the ``k`` best chunks holding at least one of the query's terms (in ``scope``), best first."""
        ...

    def idf(self, term: str) -> float:
        """Inverse document frequency of a (tokenized) term."""
        ...

    def document_frequency(self, term: str) -> int:
        """How many chunks hold the (tokenized) term."""
        ...


@runtime_checkable
class KeywordSearch(Protocol):
    """A store that ranks by keywords itself, so the retriever needs no in-memory BM25 of its own."""

    def keyword_index(self) -> KeywordIndex:
        """The store's keyword ranking, as of this snapshot of the index."""
        ...


@runtime_checkable
class SharedStore(Protocol):
    """A store other processes may change (Postgres): a ``Bot`` checks it now and then and loads the latest."""

    def is_current(self) -> bool:
        """Whether this snapshot is still the index's latest version."""
        ...

    def latest(self) -> Store:
        """A snapshot of the index's latest version."""
        ...
