"""Finding the passages that answer a question: dense search, BM25, and their reciprocal-rank fusion.

Each retrieved ``Passage`` also carries the cosine similarity of every one of its sentences to the
question (from sentence vectors computed at index time), so answerers, the grounding check and the UI can
point at the exact sentence without embedding anything more per query.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rag.config import RetrievalMode
from rag.embeddings import Vectors
from rag.ingest.chunking import Chunk
from rag.ingest.terms import tokenize
from rag.retrieve.vocabulary import alias_of
from rag.stores.base import KeywordIndex, KeywordSearch, Scope, Store

__all__ = ["BM25", "Passage", "Passages", "Retriever", "ScoredSentence"]

RRF_K = 60  # the constant of Cormack et al. (2009); it damps the weight of the very first ranks
TERM_CACHE_ROWS = 20_000  # chunks whose tokenized sentences are kept in memory
CANDIDATES_PER_K = 4  # each ranker proposes this many candidates per passage asked for, before fusion


@dataclass(frozen=True)
class ScoredSentence:
    """A sentence of a passage and how it matches the question.

    Attributes:
        start: Offset of the sentence in its document.
        end: Offset one past its end.
        score: Cosine similarity between the sentence and the question.
        overlap: Share of the question's terms found in the sentence, each weighted by its BM25 idf (0 to 1),
            so a rare name counts for more than a word every passage has. Terms found only in the previous
            sentence count half: "It signed with AWS" is about the company the sentence before names.
        terms: The question's terms found in the sentence.
        context_terms: The question's terms found in the sentence before it (what "it" may stand for).
    """

    start: int
    end: int
    score: float
    overlap: float = 0.0
    terms: frozenset[str] = frozenset()
    context_terms: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk.

    Attributes:
        chunk: The chunk: source, offsets, text.
        score: Cosine similarity between the question and the chunk, in [-1, 1].
        rank: 1 for the best passage.
        overlap: Idf-weighted share of the question's terms found in the passage (0 to 1).
        sentences: The chunk's sentences with their similarity to the question, in reading order.
        row: The chunk's row in the index it came from.
    """

    chunk: Chunk
    score: float
    rank: int
    sentences: tuple[ScoredSentence, ...]
    overlap: float = 0.0
    row: int = -1

    @property
    def source(self) -> str:
        """File name of the passage's document."""
        return self.chunk.source

    @property
    def start(self) -> int:
        """Offset of the passage in its document."""
        return self.chunk.start

    @property
    def end(self) -> int:
        """Offset one past the passage's end."""
        return self.chunk.end

    @property
    def text(self) -> str:
        """The passage's text."""
        return self.chunk.text

    @property
    def page(self) -> int | None:
        """The 1-based page the passage starts on (None for formats without pages)."""
        return self.chunk.page

    @property
    def page_label(self) -> str | None:
        """The printed label of that page, when the PDF defines one."""
        return self.chunk.page_label

    @property
    def section(self) -> str | None:
        """The heading path of the section the passage starts in, when its document has headings."""
        return self.chunk.section

    def sentence_text(self, sentence: ScoredSentence) -> str:
        """Text of one of this passage's sentences."""
        return self.chunk.text[sentence.start - self.chunk.start : sentence.end - self.chunk.start]

    def to_dict(self) -> dict[str, Any]:
        """The passage as a plain dict (one row of ``Passages.to_frame()``)."""
        return {
            "rank": self.rank,
            "source": self.source,
            "start": self.start,
            "end": self.end,
            "score": round(self.score, 4),
            "text": self.text,
        }


class Passages(list[Passage]):
    """A list of passages, best first, that also turns into a pandas DataFrame.

    ``unknown_names`` are the capitalised words of the question (names, places, products) that no
    indexed text contains: the documents cannot be about them, however close the passages look.
    ``term_weights`` are the question's terms with their idf (how much each counts in ``overlap``).
    ``keyword_only`` is True when the passages were found by keyword search alone (a question in a script
    the embedding model does not read): their cosine scores say nothing then.
    """

    unknown_names: tuple[str, ...] = ()
    term_weights: dict[str, float] = {}  # noqa: RUF012 - replaced per instance, never mutated
    keyword_only: bool = False

    def to_frame(self) -> Any:
        """Return a ``pandas.DataFrame`` with one row per passage (needs pandas)."""
        import pandas as pd

        return pd.DataFrame([p.to_dict() for p in self], columns=["rank", "source", "start", "end", "score", "text"])

    def _repr_html_(self) -> str:
        try:
            return str(self.to_frame()._repr_html_())
        except ImportError:
            return repr(self)


_WORD = re.compile(r"[\w'’]+", re.UNICODE)


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


class Retriever:
    """Ranks the chunks of a store for a question."""

    def __init__(self, store: Store, previous: Retriever | None = None) -> None:
        """Rank the chunks of ``store``.

        ``previous``, the retriever of the index before a refresh, lends its BM25 postings, so that only
        the chunks new to ``store`` are tokenized.
        """
        self.store = store
        self._bm25: KeywordIndex | None = None
        self._bm25_lock = threading.Lock()
        self._previous = previous if previous is not None and previous._bm25 is not None else None
        # Row -> (terms of each sentence, terms of the chunk): tokenizing is the slow part of scoring a
        # passage, and a chunk's text never changes, so each chunk is tokenized once.
        self._terms: dict[int, tuple[list[frozenset[str]], frozenset[str]]] = {}
        self._rows_by_source: dict[str, np.ndarray] | None = None  # built on the first scoped question

    def rows_of(self, sources: Collection[str]) -> np.ndarray:
        """The rows of the chunks of the documents named ``sources``, in row order."""
        if self._rows_by_source is None:
            by_source: dict[str, list[int]] = {}
            for row, chunk in enumerate(self.store.chunks):
                by_source.setdefault(chunk.source, []).append(row)
            # Assigned whole: a question racing this build at worst builds it again.
            self._rows_by_source = {name: np.asarray(rows, dtype=np.int64) for name, rows in by_source.items()}
        parts = [self._rows_by_source[name] for name in sources if name in self._rows_by_source]
        return np.sort(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)

    @property
    def bm25(self) -> KeywordIndex:
        """The BM25 index of the store's chunks (its idf also weighs term overlap), built on first use."""
        with self._bm25_lock:
            if self._bm25 is None:
                self._bm25 = self._build_bm25()
                self._previous = None
            return self._bm25

    def _build_bm25(self) -> KeywordIndex:
        if isinstance(self.store, KeywordSearch):  # the store ranks by keywords itself (Postgres full text)
            return self.store.keyword_index()
        chunks = self.store.chunks
        previous = self._previous
        if previous is None or not isinstance(previous._bm25, BM25):
            return BM25([c.text for c in chunks])
        old_rows = {chunk.id: row for row, chunk in enumerate(previous.store.chunks)}
        kept = np.array([old_rows.get(chunk.id, -1) for chunk in chunks], dtype=np.int64)
        texts = [None if row >= 0 else chunk.text for row, chunk in zip(kept, chunks, strict=True)]
        return BM25.updated(previous._bm25, kept, texts)

    def warm_up(self) -> threading.Thread:
        """Build BM25 in a background thread, so that the first question does not wait for it.

        On 100k chunks it takes seconds; a question asked meanwhile waits for the same build, never
        starts a second one.
        """
        thread = threading.Thread(target=lambda: self.bm25, name="rag-bm25-warm-up", daemon=True)
        thread.start()
        return thread

    def retrieve(
        self,
        question: str,
        query_vector: Vectors,
        k: int,
        mode: RetrievalMode = "dense",
        sources: Collection[str] | None = None,
        *,
        keywords_only: bool = False,
    ) -> Passages:
        """Return the ``k`` best passages for ``question``, best first.

        ``"dense"`` ranks by cosine similarity. ``"hybrid"`` also ranks by BM25 and fuses both rankings
        with reciprocal rank fusion (score = sum of 1 / (60 + rank)), which rescues passages that share
        rare words (names, numbers) with the question but embed a little further away. ``keywords_only``
        ranks by BM25 alone (for a question the embedding model cannot read); with no keyword match it
        falls back to the dense ranking.

        ``sources``, when given, are the only documents searched (exact names): both rankers score only
        their chunks, so the full ``k`` comes back whenever the scope holds that many.
        """
        scope = None if sources is None else Scope(frozenset(sources), self.rows_of(sources))
        if keywords_only:
            rows = self.bm25.top(question, k, scope)
            if rows:
                passages = self._passages(rows, question, query_vector)
                passages.keyword_only = True
                return passages

        def dense_rows(n: int) -> list[int]:
            if scope is None:
                return [row for row, _ in self.store.search(query_vector, n)]
            return [row for row, _ in self.store.search_scope(query_vector, n, scope)]

        if mode == "dense":
            rows = dense_rows(k)
        else:
            pool = max(k * CANDIDATES_PER_K, 20)
            dense = dense_rows(pool)
            lexical = self.bm25.top(question, pool, scope)
            fused: dict[int, float] = {}
            for ranking in (dense, lexical):
                for rank, row in enumerate(ranking, start=1):
                    fused[row] = fused.get(row, 0.0) + 1.0 / (RRF_K + rank)
            rows = sorted(fused, key=lambda r: -fused[r])[:k]
        return self._passages(rows, question, query_vector)

    def _chunk_terms(self, row: int) -> tuple[list[frozenset[str]], frozenset[str]]:
        cached = self._terms.get(row)
        if cached is None:
            chunk = self.store.chunks[row]
            cached = (
                [frozenset(tokenize(chunk.sentence_text(s))) for s in chunk.sentences],
                frozenset(tokenize(chunk.text)),
            )
            if len(self._terms) >= TERM_CACHE_ROWS:
                self._terms.clear()  # bounded memory on large corpora; hot chunks come back quickly
            self._terms[row] = cached  # a dict assignment is atomic under the GIL; a race only repeats work
        return cached

    def unknown_names(self, question: str) -> tuple[str, ...]:
        """The capitalised words of ``question``, past its first, that occur in no indexed text.

        A question in capitals throughout says nothing by its case, so it has none.
        """
        if question.isupper():
            return ()
        unknown = []
        for number, match in enumerate(_WORD.finditer(question)):
            word = match.group()
            starts_sentence = number == 0 or question[: match.start()].rstrip().endswith((".", "?", "!", ":"))
            if starts_sentence or not word[0].isupper():
                continue
            # An acronym's plural ("CEOs") is not one the stemmer knows; an alias ("MSFT") counts as its
            # usual form ("Microsoft").
            forms = [word, word[:-1]] if word.endswith("s") and word[:-1].isupper() else [word]
            forms += [alias for alias in [alias_of(word)] if alias]
            stems = [stem for form in forms for stem in tokenize(form)]
            if stems and not any(self.bm25.document_frequency(stem) for stem in stems):
                unknown.append(word)
        return tuple(unknown)

    def _passages(self, rows: Sequence[int], question: str, query_vector: Vectors) -> Passages:
        if not rows:
            return Passages()
        weights = {term: self.bm25.idf(term) for term in set(tokenize(question))}
        total = sum(weights.values()) or 1.0

        wanted = frozenset(weights)

        def share(terms: frozenset[str], context: frozenset[str] = frozenset()) -> float:
            return (sum(weights[t] for t in terms) + 0.5 * sum(weights[t] for t in context - terms)) / total

        chunk_scores = self.store.chunk_vectors(rows) @ query_vector
        passages = Passages()
        for rank, (row, score) in enumerate(zip(rows, chunk_scores, strict=True), start=1):
            chunk = self.store.chunks[row]
            sentence_scores = self.store.sentence_vectors_of(row) @ query_vector
            sentence_terms, chunk_terms = self._chunk_terms(row)
            sentences = []
            previous: frozenset[str] = frozenset()
            for sentence, sentence_score, all_terms in zip(
                chunk.sentences, sentence_scores, sentence_terms, strict=True
            ):
                terms = wanted & all_terms
                scored = ScoredSentence(
                    sentence.start, sentence.end, float(sentence_score), share(terms, previous), terms, previous
                )
                sentences.append(scored)
                previous = terms
            passages.append(Passage(chunk, float(score), rank, tuple(sentences), share(wanted & chunk_terms), row))
        passages.unknown_names = self.unknown_names(question)
        passages.term_weights = weights
        return passages
