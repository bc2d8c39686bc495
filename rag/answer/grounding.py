"""Checking that each sentence of an LLM's answer is backed by the passages it cites.

Every answer sentence is embedded with the index's own model and compared with the sentences (and the
whole text) of the passages it cites; a sentence without a marker is compared with all cited passages. A
sentence is supported when its best cosine similarity reaches ``SUPPORT_THRESHOLD`` and every number in it
also appears in a cited passage (embeddings barely tell "$7 billion" from "$9 billion"). Unsupported
sentences are listed in ``Answer.unsupported_sentences``; the best-matching passage sentences become the
citations' highlights.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np

from rag.answer.types import Answer
from rag.embeddings import Embedder
from rag.retrieve.passages import Passage
from rag.stores.base import Store

__all__ = ["SUPPORT_THRESHOLD", "check_grounding", "split_answer_sentences"]

SUPPORT_THRESHOLD = 0.6
# A sentence ends at . ! or ? (plus any [n] markers) followed by whitespace or the end, so "$1.35" stays whole.
_SENTENCE = re.compile(r".+?(?:[.!?]+(?:\s*\[\d+\])*(?=\s|$)|$)", re.DOTALL)
_MARKER = re.compile(r"\[(\d+)\]")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def split_answer_sentences(text: str) -> list[str]:
    """Split an answer into sentences, each keeping the ``[n]`` markers that follow it."""
    return [s.strip() for s in _SENTENCE.findall(text) if s.strip() and _MARKER.sub("", s).strip(" .!?")]


def check_grounding(answer: Answer, embedder: Embedder, store: Store) -> Answer:
    """Fill ``answer.unsupported_sentences`` and point the citations' highlights at supporting sentences."""
    if answer.refused:
        return answer
    sentences = split_answer_sentences(answer.text)
    if not sentences:
        return answer
    if not answer.citations:
        answer.unsupported_sentences = sentences
        return answer
    by_span = {(p.source, p.start, p.end): p for p in answer.passages}
    cited: dict[int, Passage] = {
        c.n: by_span[(c.source, c.start, c.end)] for c in answer.citations if (c.source, c.start, c.end) in by_span
    }
    vectors = embedder.encode([_MARKER.sub("", s).strip() for s in sentences])
    highlights: dict[int, set[tuple[int, int]]] = {n: set() for n in cited}
    unsupported = []
    for sentence, vector in zip(sentences, vectors, strict=True):
        numbers = [int(n) for n in _MARKER.findall(sentence) if int(n) in cited] or list(cited)
        best_score, best_n, best_span = -1.0, 0, (0, 0)
        for n in numbers:
            score, span = _best_support(vector, cited[n], store)
            if score > best_score:
                best_score, best_n, best_span = score, n, span
        figures = _NUMBER.findall(_MARKER.sub("", sentence))
        figures_found = all(any(f in cited[n].text for n in numbers) for f in figures)
        if best_score >= SUPPORT_THRESHOLD and figures_found:
            if best_span != (0, 0):
                highlights[best_n].add(best_span)
        else:
            unsupported.append(sentence)
    answer.unsupported_sentences = unsupported
    answer.citations = [
        dataclasses.replace(c, highlights=tuple(sorted(highlights[c.n]))) if highlights.get(c.n) else c
        for c in answer.citations
    ]
    return answer


def _best_support(vector: np.ndarray, passage: Passage, store: Store) -> tuple[float, tuple[int, int]]:
    """Best cosine between ``vector`` and the passage (its sentences, or the whole chunk), and that sentence."""
    if not 0 <= passage.row < len(store.chunks) or store.chunks[passage.row].id != passage.chunk.id:
        return -1.0, (0, 0)  # the index changed since this passage was retrieved
    scores = store.sentence_vectors_of(passage.row) @ vector
    whole = float(store.chunk_vectors([passage.row])[0] @ vector)
    best = int(np.argmax(scores)) if len(scores) else -1
    if best < 0 or whole > float(scores[best]):
        span = (passage.sentences[best].start, passage.sentences[best].end) if best >= 0 else (0, 0)
        return whole, span
    sentence = passage.chunk.sentences[best]
    return float(scores[best]), (sentence.start, sentence.end)
