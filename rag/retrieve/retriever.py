"""Finding the passages that answer a question: dense search, BM25, and their reciprocal-rank fusion.

The ``Retriever`` of a store asks it for the nearest chunk vectors (dense), ranks chunks by keywords with the
store's own ``KeywordSearch`` or an in-memory ``rag.retrieve.bm25.BM25``, fuses the two rankings by
reciprocal rank, and scores each passage's sentences against the question (``rag.retrieve.passages``). A
passage reads on into the next chunk of its document by a few whole sentences (``READ_ON_CHARS``), scored from
that chunk's stored vectors, so an answer cut off by a chunk's end is still there to quote.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from collections.abc import Collection, Sequence

import numpy as np

from rag.config import RetrievalMode
from rag.embeddings import Vectors
from rag.ingest.chunking import Chunk
from rag.ingest.terms import tokenize
from rag.retrieve.bm25 import BM25
from rag.retrieve.passages import Passage, Passages, ScoredSentence
from rag.retrieve.vocabulary import alias_of
from rag.stores.base import KeywordIndex, KeywordSearch, Scope, Store

__all__ = ["Retriever"]

RRF_K = 60  # the constant of Cormack et al. (2009); it damps the weight of the very first ranks
TERM_CACHE_ROWS = 20_000  # chunks whose tokenized sentences are kept in memory
# How far a passage reads on past its chunk's end, in whole sentences of the next chunk: a chunk that ends
# just before the sentence that answers hid it (5 of the 7 calibration questions whose answer no retrieved
# passage held had it within 400 characters after one's end).
READ_ON_CHARS = 300
CANDIDATES_PER_K = 4  # each ranker proposes this many candidates per passage asked for, before fusion

_WORD = re.compile(r"[\w'’]+", re.UNICODE)


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
        self._read_ons: dict[int, tuple[Chunk, list[int]] | None] = {}  # row -> ``_read_on``'s result
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

    def _read_on(self, row: int) -> tuple[Chunk, list[int]] | None:
        """Chunk ``row`` read on into the next chunk of its document by whole sentences, up to ``READ_ON_CHARS``.

        Returns the longer chunk and the indexes, among the next chunk's sentences, of those it took; None
        when the next row is not the chunk that follows this one in its document. Built once per row.
        """
        if row in self._read_ons:
            return self._read_ons[row]
        if len(self._read_ons) >= TERM_CACHE_ROWS:
            self._read_ons.clear()  # bounded memory, as the terms are
        self._read_ons[row] = result = self._longer_chunk(row)
        return result

    def _longer_chunk(self, row: int) -> tuple[Chunk, list[int]] | None:
        chunk = self.store.chunks[row]
        if row + 1 >= len(self.store.chunks):
            return None
        following = self.store.chunks[row + 1]
        if following.source != chunk.source or not chunk.start < following.start <= chunk.end:
            return None
        taken = [
            i for i, s in enumerate(following.sentences) if s.start >= chunk.end and s.end <= chunk.end + READ_ON_CHARS
        ]
        if not taken:
            return None
        end = following.sentences[taken[-1]].end
        text = chunk.text + following.text[chunk.end - following.start : end - following.start]
        # The page and section at the chunk's end go on until the next chunk says they change.
        places = (*chunk.places, *(p for p in following.places if chunk.end <= p.start < end))
        sentences = (*chunk.sentences, *(following.sentences[i] for i in taken))
        longer = dataclasses.replace(chunk, end=end, text=text, sentences=sentences, places=places)
        return longer, taken

    def _passages(self, rows: Sequence[int], question: str, query_vector: Vectors) -> Passages:
        if not rows:
            return Passages()
        weights = {term: self.bm25.idf(term) for term in set(tokenize(question))}
        total = sum(weights.values()) or 1.0

        wanted = frozenset(weights)

        def share(terms: frozenset[str], context: frozenset[str] = frozenset()) -> float:
            return (sum(weights[t] for t in terms) + 0.5 * sum(weights[t] for t in context - terms)) / total

        read_ons = {row: self._read_on(row) for row in rows}
        # The sentence vectors of the rows, and of the rows they read on into, are read at once (one query on
        # Postgres, which brings the chunk vectors along).
        vector_rows = list(dict.fromkeys([*rows, *(row + 1 for row, read_on in read_ons.items() if read_on)]))
        sentence_vectors = dict(zip(vector_rows, self.store.sentence_vectors(vector_rows), strict=True))
        chunk_scores = self.store.chunk_vectors(rows) @ query_vector
        passages = Passages()
        for rank, (row, score) in enumerate(zip(rows, chunk_scores, strict=True), start=1):
            chunk = self.store.chunks[row]
            sentence_scores = sentence_vectors[row] @ query_vector
            sentence_terms, chunk_terms = self._chunk_terms(row)
            read_on = read_ons[row]
            if read_on is not None:
                # The next chunk's sentences are scored from its own stored vectors and terms.
                chunk, taken = read_on
                following_scores = sentence_vectors[row + 1] @ query_vector
                sentence_scores = np.concatenate([sentence_scores, following_scores[taken]])
                following_terms = self._chunk_terms(row + 1)[0]
                sentence_terms = [*sentence_terms, *(following_terms[i] for i in taken)]
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
