"""Okapi BM25 in memory: the keyword half of hybrid retrieval, for stores that do not rank keywords themselves.

Texts are cut into terms by ``rag.ingest.terms.tokenize``, the same terms the Postgres store ranks in SQL.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from rag.ingest.terms import tokenize
from rag.stores.base import Scope

__all__ = ["BM25"]


class BM25:
    """Okapi BM25 over a fixed list of texts.

    Postings are kept as one compressed sparse row matrix (for each term: the rows that hold it and how
    often), so a query is a few vector operations, and an index refreshed after some files changed can be
    derived from the previous one (``updated``) by moving rows, tokenizing only the new texts.
    """

    def __init__(self, texts: Sequence[str], k1: float = 1.5, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        vocabulary: dict[str, int] = {}
        rows, terms = _term_ids(texts, vocabulary)
        self._set(vocabulary, rows, terms, len(texts))

    @classmethod
    def updated(cls, previous: BM25, kept: np.ndarray, texts: Sequence[str | None]) -> BM25:
        """The index of ``texts``, reusing ``previous``'s postings for rows it already had.

        ``kept[i]`` is the row in ``previous`` of text ``i`` (whose entry in ``texts`` may be None), or -1 for
        a new text, which is tokenized here.
        """
        index = cls.__new__(cls)
        index.k1, index.b = previous.k1, previous.b
        size = len(kept)
        vocabulary = dict(previous._vocabulary)
        # Old postings, moved to their new rows; rows that are gone are dropped.
        to_new = np.full(previous.size, -1, dtype=np.int64)
        old = np.flatnonzero(kept >= 0)
        to_new[kept[old]] = old
        moved = to_new[previous._rows]
        keep = moved >= 0
        old_terms = np.repeat(np.arange(len(previous._offsets) - 1), np.diff(previous._offsets))
        fresh = np.flatnonzero(kept < 0)
        rows, terms = _term_ids([texts[int(i)] or "" for i in fresh], vocabulary)
        index._set(
            vocabulary,
            np.concatenate([moved[keep], fresh[rows]]),
            np.concatenate([old_terms[keep], terms]),
            size,
            np.concatenate([previous._tfs[keep], np.ones(len(rows), dtype=np.float32)]),
        )
        return index

    def _set(
        self,
        vocabulary: dict[str, int],
        rows: np.ndarray,
        terms: np.ndarray,
        size: int,
        weights: np.ndarray | None = None,
    ) -> None:
        """Build the postings from one ``(row, term)`` pair per occurrence (or per weighted posting)."""
        self.size = size
        self._vocabulary = vocabulary
        weights = np.ones(len(rows), dtype=np.float32) if weights is None else weights
        # Sum the occurrences of each (term, row) pair: that is the term frequency.
        keys = terms.astype(np.int64) * max(size, 1) + rows
        unique, inverse = np.unique(keys, return_inverse=True)
        tfs = np.bincount(inverse, weights=weights).astype(np.float32)
        term_of = unique // max(size, 1)
        self._rows = (unique % max(size, 1)).astype(np.int64)
        self._tfs = tfs
        self._offsets = np.zeros(len(vocabulary) + 1, dtype=np.int64)
        np.cumsum(np.bincount(term_of, minlength=len(vocabulary)), out=self._offsets[1:])
        lengths = np.bincount(self._rows, weights=tfs, minlength=size).astype(np.float32)
        avg = float(lengths.mean()) if size else 1.0
        self._norm = (self.k1 * (1 - self.b + self.b * lengths / max(avg, 1e-9))).astype(np.float32)

    def _postings(self, term: str) -> tuple[np.ndarray, np.ndarray]:
        number = self._vocabulary.get(term)
        if number is None:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        start, end = self._offsets[number], self._offsets[number + 1]
        return self._rows[start:end], self._tfs[start:end]

    def document_frequency(self, term: str) -> int:
        """How many texts hold the (tokenized) term."""
        return len(self._postings(term)[0])

    def idf(self, term: str) -> float:
        """Inverse document frequency of a (tokenized) term; highest for terms no text contains."""
        df = self.document_frequency(term)
        return math.log(1 + (self.size - df + 0.5) / (df + 0.5))

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every text for ``query`` (zeros where no query term occurs)."""
        scores = np.zeros(self.size, dtype=np.float32)
        for term in set(tokenize(query)):
            docs, tfs = self._postings(term)
            if len(docs):
                scores[docs] += self.idf(term) * tfs * (self.k1 + 1) / (tfs + self._norm[docs])
        return scores

    def top(self, query: str, k: int, scope: Scope | None = None) -> list[int]:
        """Rows of the ``k`` best-scoring texts that contain at least one query term, best first.

        ``scope``, when given, holds the only rows that may be returned (a scoped question).
        """
        scores = self.scores(query)
        if scope is not None:
            scoped = np.zeros_like(scores)
            scoped[scope.rows] = scores[scope.rows]
            scores = scoped
        k = min(k, int((scores > 0).sum()))
        if k == 0:
            return []
        best = np.argpartition(-scores, k - 1)[:k]
        return [int(r) for r in best[np.argsort(-scores[best], kind="stable")]]


def _term_ids(texts: Sequence[str], vocabulary: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """One ``(text number, term id)`` pair per token of ``texts``, adding new terms to ``vocabulary``."""
    rows: list[np.ndarray] = []
    terms: list[int] = []
    for number, text in enumerate(texts):
        ids = [vocabulary.setdefault(token, len(vocabulary)) for token in tokenize(text)]
        terms.extend(ids)
        rows.append(np.full(len(ids), number, dtype=np.int64))
    flat_rows = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    return flat_rows, np.asarray(terms, dtype=np.int64)
