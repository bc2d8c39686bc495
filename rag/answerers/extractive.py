"""The embedded default answerer: quotes the retrieved sentences that best answer the question.

No LLM, no key, no network. Every sentence of the retrieved passages gets an evidence score that mixes:

- its cosine similarity to the question (sentence vectors come from the index, nothing is embedded here;
  they are pooled from their chunk's token vectors, so a sentence that says "it" is read in its context);
- its passage's similarity (weight 0 since sentences are read in context; kept for calibration sweeps);
- the idf-weighted share of the question's terms it contains, and the same share for its passage, which
  rewards the rare words (names, numbers, "MWC") that a small embedding model blurs.

Headings (under four words) and questions are never quoted: they look like the question, not an answer.
The answer is the best sentence plus up to two more that score nearly as well or that cover question
terms the first one misses (for two-part questions), each followed by its ``[n]``. When even the best
sentence scores under ``min_score`` the answerer refuses: the nearest sentence of unrelated text would
look like an answer and be wrong. It also refuses, saying why, when the question names something no
indexed text mentions ("Which Japanese company..." of documents that never say "Japanese"), and answers
"how many" only with a sentence that holds a number and "how much" only with one that holds a figure.
The weights and threshold were calibrated on ``evals/qa.jsonl`` with ``evals/calibrate.py``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from rag.answer import REFUSAL_TEXT, Answer, Citation
from rag.chunking import reflow
from rag.retrieval import Passage, ScoredSentence

__all__ = ["ExtractiveAnswerer"]

MIN_ANSWER_WORDS = 4
QUANTITY_QUESTION = re.compile(r"\W*how\s+(many|much)\b", re.IGNORECASE)
# What an answer to "how many" holds: a figure or a number word. "How much" asks for an amount, so a count
# ("the two companies") does not do: it needs a figure or an order of magnitude.
_FIGURE = r"\d|\b(hundreds?|thousands?|millions?|billions?|trillions?)\b"
_COUNT = r"\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|dozens?|twice)\b"
QUANTITY = {"many": re.compile(f"{_FIGURE}|{_COUNT}", re.IGNORECASE), "much": re.compile(_FIGURE, re.IGNORECASE)}


@dataclass(frozen=True)
class ExtractiveAnswerer:
    """Answers with the best-matching sentences of the passages, or refuses.

    Attributes:
        min_score: Evidence score under which it refuses.
        max_sentences: Most sentences quoted.
        sentence_weight: Weight of the sentence's cosine similarity in the evidence score.
        passage_weight: Weight of the passage's cosine similarity.
        overlap_weight: Weight of the sentence's idf-weighted term overlap with the question.
        passage_overlap_weight: Weight of the passage's term overlap.
        margin: A further sentence is quoted when it scores within this of the best one...
        coverage_margin: ...or within this, if it holds question terms the quoted ones lack.
    """

    min_score: float = 0.42
    max_sentences: int = 3
    sentence_weight: float = 0.6
    passage_weight: float = 0.0
    overlap_weight: float = 0.2
    passage_overlap_weight: float = 0.0
    margin: float = 0.06
    coverage_margin: float = 0.2
    name: str = "extractive"

    def evidence(self, sentence: ScoredSentence, passage: Passage) -> float:
        """How strongly ``sentence`` answers the question: a weighted mean, in the range of a cosine."""
        total = self.sentence_weight + self.passage_weight + self.overlap_weight + self.passage_overlap_weight
        return (
            self.sentence_weight * sentence.score
            + self.passage_weight * passage.score
            + self.overlap_weight * sentence.overlap
            + self.passage_overlap_weight * passage.overlap
        ) / total

    def answer(self, question: str, passages: Sequence[Passage]) -> Answer:
        """Quote the best sentences of ``passages`` with citations, or refuse when none is good enough."""
        unknown = getattr(passages, "unknown_names", ())
        if unknown:
            names = ", ".join(f"“{name}”" for name in unknown)
            notice = f"The documents never mention {names}."
            return Answer(question, REFUSAL_TEXT, [], True, self.name, notice=notice, passages=list(passages))
        ranked = self.rank(passages)
        asks = QUANTITY_QUESTION.match(question)
        if asks:
            # "How many/much" wants a figure: a sentence without one is at best about the subject.
            wanted = QUANTITY[asks.group(1).lower()]
            ranked = [item for item in ranked if wanted.search(item[2].sentence_text(item[1]))]
        if not ranked or ranked[0][0] < self.min_score:
            return Answer(question, REFUSAL_TEXT, [], refused=True, backend=self.name, passages=list(passages))
        chosen = self._select(ranked)
        numbers: dict[int, int] = {}  # passage rank -> citation number, in order of first use
        highlights: dict[int, list[tuple[int, int]]] = {}
        pieces = []
        for sentence, passage in chosen:
            n = numbers.setdefault(passage.rank, len(numbers) + 1)
            highlights.setdefault(passage.rank, []).append((sentence.start, sentence.end))
            pieces.append(f"{reflow(passage.sentence_text(sentence))} [{n}]")  # wrapped lines read as one
        by_rank = {p.rank: p for p in passages}
        citations = [
            Citation.from_passage(n, by_rank[rank], tuple(sorted(highlights[rank]))) for rank, n in numbers.items()
        ]
        return Answer(question, " ".join(pieces), citations, refused=False, backend=self.name, passages=list(passages))

    def rank(self, passages: Sequence[Passage]) -> list[tuple[float, ScoredSentence, Passage]]:
        """Every quotable sentence of the passages with its evidence score, best first.

        Overlapping chunks share sentences; each is kept once, with the passage that scores it best.
        """
        best: dict[tuple[str, int, int], tuple[float, ScoredSentence, Passage]] = {}
        for passage in passages:
            for sentence in passage.sentences:
                text = passage.sentence_text(sentence)
                if text.rstrip().endswith("?") or len(text.split()) < MIN_ANSWER_WORDS:
                    continue
                key = (passage.source, sentence.start, sentence.end)
                score = self.evidence(sentence, passage)
                if key not in best or score > best[key][0]:
                    best[key] = (score, sentence, passage)
        return sorted(best.values(), key=lambda item: -item[0])

    def _select(self, ranked: list[tuple[float, ScoredSentence, Passage]]) -> list[tuple[ScoredSentence, Passage]]:
        best_score, best_sentence, best_passage = ranked[0]
        chosen = [(best_sentence, best_passage)]
        covered = set(best_sentence.terms)
        for score, sentence, passage in ranked[1:]:
            if len(chosen) == self.max_sentences or score < self.min_score:
                break
            adds_terms = bool(sentence.terms - covered)
            if score >= best_score - self.margin or (adds_terms and score >= best_score - self.coverage_margin):
                chosen.append((sentence, passage))
                covered |= sentence.terms
        return chosen
