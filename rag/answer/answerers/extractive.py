"""The embedded default answerer: quotes the retrieved sentences that best answer the question.

No LLM, no key, no network. Every sentence of the retrieved passages gets an evidence score that mixes:

- its cosine similarity to the question (sentence vectors come from the index, nothing is embedded here;
  they are pooled from their chunk's token vectors, so a sentence that says "it" is read in its context);
- its passage's similarity (weight 0 since sentences are read in context; kept for calibration sweeps);
- the idf-weighted share of the question's terms it contains, and the same share for its passage, which
  rewards the rare words (names, numbers, "MWC") that a small embedding model blurs.

Headings (under four words) and questions are never quoted: they look like the question, not an answer.
The answer is the best sentence, plus a further one only when it answers a part of the question the
quoted ones leave open: it holds question terms they lack (and that the sentence before a quoted one, which
its "it" stands for, lacks too) worth at least ``min_gain`` of the question's idf weight. A sentence that
merely scores nearly as well is padding, and is left out. Each sentence is followed by its ``[n]``.

It refuses when even the best sentence scores under ``min_score`` (the nearest sentence of unrelated text
would look like an answer and be wrong); when the question names something no indexed text mentions
("Which Japanese company..." of documents that never say "Japanese"), saying so; when a question asks for
"the X of Y" (the chief executive of SK Telecom) and no sentence puts X next to Y (a near miss names the
subject, not the relation asked about); and it answers "how many" only with a sentence that holds a number,
"how much" only with one that holds a figure, and "when" only with one that names a time. Passages found
by keywords alone (a question in a script the embedding model does not read) are scored by their term
overlap alone.
The weights and threshold were calibrated on ``evals/qa.jsonl`` with ``evals/calibrate.py``; the README
reports them on ``evals/heldout.jsonl``, a set written independently that never chose them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from rag.answer.types import REFUSAL_TEXT, Answer, Citation
from rag.ingest.chunking import reflow
from rag.ingest.terms import CJK_RUN, tokenize
from rag.retrieve.passages import Passage, ScoredSentence
from rag.retrieve.vocabulary import expand_aliases

__all__ = ["ExtractiveAnswerer"]

MIN_ANSWER_WORDS = 4
QUANTITY_QUESTION = re.compile(r"\W*how\s+(many|much)\b", re.IGNORECASE)
# What an answer to "how many" holds: a figure or a number word. "How much" asks for an amount, so a count
# ("the two companies") does not do: it needs a figure or an order of magnitude.
_FIGURE = r"\d|\b(hundreds?|thousands?|millions?|billions?|trillions?)\b"
_COUNT = r"\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|dozens?|twice)\b"
QUANTITY = {"many": re.compile(f"{_FIGURE}|{_COUNT}", re.IGNORECASE), "much": re.compile(_FIGURE, re.IGNORECASE)}
# "When did/will ...?" (or "what year/date/month/day ...?") wants a time: a sentence naming none is at best about the
# subject ("KT didn't provide further details" for "When will KT share the details?").
# "When does the relay refuse messages?" may ask for a condition, so only the past and the future count.
TIME_QUESTION = re.compile(
    r"\W*(when\s+(did|will|was|were|would|has|had)\b|what\s+(year|date|month|day)\b|since\s+when\b)", re.IGNORECASE
)
_MONTHS = "january|february|march|april|may|june|july|august|september|october|november|december"
_MONTHS += "|jan|feb|mar|apr|jun|jul|aug|sept?|oct|nov|dec"
_DAYS = "monday|tuesday|wednesday|thursday|friday|saturday|sunday|today|yesterday|tomorrow|tonight"
_PERIODS = r"(next|last|this|coming|past|previous|later\s+this|earlier\s+this)\s+(week|month|year|quarter|decade)"
TIME = re.compile(
    rf"\b({_MONTHS}|{_DAYS})\b|\b(1[5-9]|20)\d\d\b|\b{_PERIODS}\b|\bQ[1-4]\b|\b\d+\s+(days?|weeks?|months?|years?)\s+ago\b",
    re.IGNORECASE,
)
# "the chief executive of SK Telecom": a relation (one to three lower-case words) of a named subject.
# The name ends the question ("...of SK Telecom?"): in "the name of KT's model" the subject is the model.
_RELATION_OF_NAME = re.compile(
    r"\b((?:[A-Za-z][\w-]*\s+){0,2}[A-Za-z][\w-]*)\s+of\s+([A-Z][\w&.-]*(?:\s+[A-Z][\w&.-]*)*)\s*[?.!]*\s*$"
)
_WORD = re.compile(r"\w+")
RELATION_WINDOW = 3  # most terms between the relation and its subject: "SK Telecom's new CEO", "CEO of SK Telecom"


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
        coverage_margin: A further sentence is quoted only when it scores within this of the best one...
        min_gain: ...and holds question terms the quoted ones lack, worth this share of the question's weight.
        keyword_min_score: The refusal threshold for passages found by keywords alone, whose evidence is their
            term overlap: a question in Korean or Japanese carries endings ("했나요", "ますか") no document
            holds, so a fifth of its weight found in one sentence is a match.
    """

    min_score: float = 0.42
    max_sentences: int = 3
    sentence_weight: float = 0.75
    passage_weight: float = 0.0
    overlap_weight: float = 0.3
    passage_overlap_weight: float = 0.0
    coverage_margin: float = 0.15
    min_gain: float = 0.05
    keyword_min_score: float = 0.2
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
        relation = relation_asked(question)
        if relation is not None:
            ranked = [item for item in ranked if states_relation(item[2].sentence_text(item[1]), item[1], *relation)]
        asks = QUANTITY_QUESTION.match(question)
        if asks:
            # "How many/much" wants a figure: a sentence without one is at best about the subject.
            wanted = QUANTITY[asks.group(1).lower()]
            ranked = [item for item in ranked if wanted.search(item[2].sentence_text(item[1]))]
        if TIME_QUESTION.match(question):
            ranked = [item for item in ranked if TIME.search(item[2].sentence_text(item[1]))]
        min_score = self.keyword_min_score if getattr(passages, "keyword_only", False) else self.min_score
        if not ranked or ranked[0][0] < min_score:
            return Answer(question, REFUSAL_TEXT, [], refused=True, backend=self.name, passages=list(passages))
        chosen = self._select(ranked, getattr(passages, "term_weights", {}), min_score)
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
        keyword_only = getattr(passages, "keyword_only", False)
        for passage in passages:
            for sentence in passage.sentences:
                text = passage.sentence_text(sentence)
                if text.rstrip().endswith(("?", "？")) or _word_count(text) < MIN_ANSWER_WORDS:
                    continue
                key = (passage.source, sentence.start, sentence.end)
                # Found by keywords alone, cosines are noise: the term overlap is the evidence.
                score = sentence.overlap if keyword_only else self.evidence(sentence, passage)
                if key not in best or score > best[key][0]:
                    best[key] = (score, sentence, passage)
        return sorted(best.values(), key=lambda item: -item[0])

    def _select(
        self, ranked: list[tuple[float, ScoredSentence, Passage]], weights: dict[str, float], min_score: float
    ) -> list[tuple[ScoredSentence, Passage]]:
        """The best sentence, then each further one that answers a part of the question left open."""
        total = sum(weights.values()) or 1.0
        best_score, best_sentence, best_passage = ranked[0]
        chosen = [(best_sentence, best_passage)]
        covered = set(_answered_terms(best_passage.sentence_text(best_sentence), best_sentence))
        for score, sentence, passage in ranked[1:]:
            if len(chosen) == self.max_sentences or score < max(min_score, best_score - self.coverage_margin):
                break
            gain = sum(weights.get(term, 0.0) for term in sentence.terms - covered) / total
            if gain >= self.min_gain:
                chosen.append((sentence, passage))
                covered |= _answered_terms(passage.sentence_text(sentence), sentence)
        return chosen


_PRONOUN_START = re.compile(r"\W*(it|its|they|their|he|she|his|her|this|these|the company|the pair)\b", re.IGNORECASE)


def _answered_terms(text: str, sentence: ScoredSentence) -> frozenset[str]:
    """The question terms a quoted sentence speaks to: its own, and those its opening pronoun stands for.

    "It signed with AWS" speaks to KT, named in the sentence before.
    """
    return sentence.terms | sentence.context_terms if _PRONOUN_START.match(text) else sentence.terms


def _word_count(text: str) -> int:
    """Words of ``text``; Japanese and Chinese have no spaces, so every two CJK characters count as one."""
    return len(text.split()) + sum(len(run) for run in CJK_RUN.findall(text)) // 2


def relation_asked(question: str) -> tuple[frozenset[str], tuple[str, ...]] | None:
    """For "the X of Y" with Y a name: X's terms (with those of its aliases) and Y's terms, else None."""
    match = _RELATION_OF_NAME.search(question)
    if match is None:
        return None
    relation = frozenset(tokenize(expand_aliases(match.group(1))))
    subject = tuple(tokenize(match.group(2)))
    return (relation, subject) if relation and subject else None


def states_relation(text: str, sentence: ScoredSentence, relation: frozenset[str], subject: tuple[str, ...]) -> bool:
    """True when ``text`` puts a term of the relation within ``RELATION_WINDOW`` terms of the subject.

    A sentence that names the subject only in the sentence before ("Its CEO...") passes when the relation is
    in the sentence itself.
    """
    terms = tokenize(text)
    spots = [i for i in range(len(terms) - len(subject) + 1) if tuple(terms[i : i + len(subject)]) == subject]
    if not spots:
        return bool(relation & set(terms)) and set(subject) <= sentence.context_terms
    near = [
        i
        for i, term in enumerate(terms)
        if term in relation
        and any(spot - RELATION_WINDOW <= i < spot + len(subject) + RELATION_WINDOW for spot in spots)
    ]
    return bool(near)
