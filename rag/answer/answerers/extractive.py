"""The embedded default answerer: quotes the retrieved sentences that best answer the question.

No LLM, no key, no network. Every sentence of the retrieved passages becomes a candidate *unit*: the
sentence plus the context it is quoted with when the answer needs it (``rag.answer.answerers.quoting``: the term
line above a description, the sentence a leading pronoun stands for, the line introducing a command). A
learnt logistic model scores each unit from the signals of ``rag.answer.answerers.features``: the sentence's cosine
to the question (sentence vectors come from the index, pooled from their chunk's token vectors, so nothing
is embedded here), its passage's cosine and rank, the idf-weighted share of the question's terms it holds
alone and with its context, whether it holds the kind of answer the question asks for (a value, a
definition, a command, a negation), whether it sits in the entry of a name the question writes as code (the
``os.path.exists(path)`` entry for "Does os.path.exists() ...?"), and whether it is code, a meta line, very
short or very long.

The answer is the best unit, plus a further one only when it answers a part of the question the quoted ones
leave open: it holds question terms they lack worth at least ``min_gain`` of the question's idf weight and
scores within ``coverage_margin`` of the best. Each quote is followed by its ``[n]``. Questions and fragments
(a line cut mid-sentence by a hard line break) are never quoted.

It refuses when a second learnt model, reading the best scores, how much of the question the best unit
covers and how much of it no passage holds, says the documents probably do not answer (under
``min_score``); when the question names something no indexed text mentions ("Which Japanese company..."),
saying so; and when no sentence states what the question's form demands (``rag.answer.answerers.demands``: a
figure for "how many", a time for "when did", "the X of Y" with X next to Y). Passages found by keywords alone
(a question in a script the embedding model does not read) are scored by their term overlap alone.

Both models and the settings were learnt on the calibration splits (``evals/real/calibration.jsonl`` and
``evals/qa.jsonl``) by ``evals/calibrate.py``; the held-out halves never chose them.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from rag.answer.answerers import weights as learnt
from rag.answer.answerers.demands import demands_of, items_asked, states_qualified_value
from rag.answer.answerers.features import (
    Candidate,
    asks_negated,
    asks_which_code,
    code_names,
    entry_names,
    has_value,
    holds_qualifiers,
    qualifiers_asked,
    question_type,
    sentence_features,
)
from rag.answer.answerers.quoting import (
    alternative,
    antecedent,
    continued_from,
    echoes,
    entry_term,
    follow_up,
    introduced,
    is_fragment,
    is_heading,
    label_of,
    names_it,
    never_answers,
    opens_block,
    quote_text,
    verdict_before,
)
from rag.answer.types import REFUSAL_TEXT, Answer, Citation
from rag.ingest.chunking import ENDS_SENTENCE, reflow
from rag.ingest.readers.base import innermost_heading
from rag.ingest.terms import tokenize
from rag.retrieve.passages import Passage, ScoredSentence

__all__ = ["ANSWERABILITY_NAMES", "ExtractiveAnswerer", "Unit", "answerability", "candidates"]

_WORD = re.compile(r"\w+")
# A sentence opens with the question's subject when one of its first OPENING_WORDS words is a question term
# weighing at least SUBJECT_SHARE of the rarest one's idf.
OPENING_WORDS = 5
SUBJECT_SHARE = 0.75
QUALIFIED_WINDOW = 5  # a value asked under a qualifier must be stated by one of the best five units


@dataclass(frozen=True)
class Unit:
    """A candidate answer: a sentence, with the context it is quoted with and what the ranker reads of it.

    Attributes:
        score: The ranker's estimate that the unit holds the answer (0 to 1).
        sentence: The sentence itself.
        passage: The passage it comes from (the best-scoring one when chunks overlap).
        context: Offsets of the context quoted before it: its label line, or the sentence its pronoun
            stands for, or the sentence ending in ":" that introduces a code line.
        terms: The question's terms the unit speaks to (its own and its context's).
    """

    score: float
    sentence: ScoredSentence
    passage: Passage
    context: tuple[int, int] | None
    terms: frozenset[str]


@dataclass(frozen=True)
class ExtractiveAnswerer:
    """Answers with the best-ranked sentences of the passages, or refuses.

    Attributes:
        min_score: Ranker score under which it refuses.
        max_sentences: Most sentences quoted (a sentence's context does not count).
        weights: The ranker's weights, one per ``FEATURE_NAMES`` entry (learnt by ``evals/calibrate.py``).
        coverage_margin: A further sentence is quoted only when it scores within this of the best one...
        min_gain: ...and holds question terms the quoted ones lack, worth this share of the question's weight.
        keyword_min_score: The refusal threshold for passages found by keywords alone, whose evidence is their
            term overlap: a question in Korean or Japanese carries endings ("했나요", "ますか") no document
            holds, so a twentieth of its weight found in one sentence is a match.
    """

    min_score: float = learnt.MIN_SCORE
    max_sentences: int = 3
    weights: tuple[float, ...] = learnt.WEIGHTS
    answerable_weights: tuple[float, ...] = learnt.ANSWERABLE_WEIGHTS
    # A sentence this close to the question (cosine and term overlap, as scored before the models were
    # learnt) is answered even when the answerability model doubts: it kept "When will KT share the
    # details?" (the README's own example: confidence 0.65, evidence 0.50) from being refused.
    strong_evidence: float = 0.48
    coverage_margin: float = learnt.COVERAGE_MARGIN
    min_gain: float = learnt.MIN_GAIN
    # Measured on tests/test_cjk.py's questions: answerable ones hold 0.07 ("회의가 열린 장소는 어디인가요?", whose
    # verb and ending match nothing) to 0.55 of their weight in one sentence; a Korean question over English
    # documents, where only "KT" matches, holds 0.003.
    keyword_min_score: float = 0.05
    name: str = "extractive"

    def answer(self, question: str, passages: Sequence[Passage]) -> Answer:
        """Quote the best sentences of ``passages`` with citations, or refuse when none is good enough."""
        return self.answer_ranked(question, passages, self.rank(question, passages))

    def answer_ranked(self, question: str, passages: Sequence[Passage], ranked: list[Unit]) -> Answer:
        """``answer`` from units already ranked (``rank``): calibration sweeps rank each question once."""
        unknown = getattr(passages, "unknown_names", ())
        if unknown:
            names = ", ".join(f"“{name}”" for name in unknown)
            notice = f"The documents never mention {names}."
            return Answer(question, REFUSAL_TEXT, [], True, self.name, notice=notice, passages=list(passages))
        # "How many" wants a figure, "when did" a time, "the CEO of SK Telecom" the relation beside its subject:
        # a sentence without it is at best about the subject.
        demands = demands_of(question)
        ranked = [u for u in ranked if demands.stated_by(u.passage.sentence_text(u.sentence), u.sentence)]
        if ranked and not states_qualified_value(question, [_unit_text(u) for u in ranked[:QUALIFIED_WINDOW]]):
            ranked = []  # "What is the maximum number of remotes?": no sentence near the top says what the most is
        keyword_only = getattr(passages, "keyword_only", False)
        if not ranked or (
            ranked[0].score < self.keyword_min_score
            if keyword_only
            else self.confidence(question, ranked, passages) < self.min_score
            and answerability(ranked, passages, question)[_EVIDENCE] < self.strong_evidence
        ):
            return Answer(question, REFUSAL_TEXT, [], refused=True, backend=self.name, passages=list(passages))
        chosen = self._select(ranked, getattr(passages, "term_weights", {}), items_asked(question))
        yes_no = question_type(question) == "yesno"
        # Each finder reads the best unit, which stays first until the verdict before it goes in front.
        finders = [follow_up, alternative, verdict_before] if yes_no else [alternative]
        if asks_which_code(question):
            finders = [names_it, *finders]  # the sentence after a "when" names the "which"
        for finder in finders:
            chosen = _with_neighbour(chosen, ranked, finder)[: self.max_sentences]
        return self._compose(question, _in_reading_order(chosen), passages)

    def _compose(self, question: str, chosen: list[Unit], passages: Sequence[Passage]) -> Answer:
        """The answer text, each quote with its context and ``[n]``, in the order of ``chosen``."""
        numbers: dict[int, int] = {}  # passage rank -> citation number, in order of first use
        highlights: dict[int, list[tuple[int, int]]] = {}
        first_at: dict[int, int] = {}
        pieces: list[tuple[int, list[_Span], Passage]] = []  # citation number, spans quoted, their passage
        quoted: dict[str, list[_Span]] = {}  # source -> spans quoted so far

        def fresh(source: str, span: _Span) -> bool:
            return not any(a < span[1] and span[0] < b for a, b in quoted.get(source, []))

        # Which option, what value, how: a sentence deep in an entry's description is quoted under the entry's
        # term ("set-url … Sets first URL for remote <name> ..."). Only quoted: the ranker never read the term,
        # whose words would count for every sentence of a long description.
        wants_term = question_type(question) in _LABEL_KINDS
        for unit in chosen:
            passage, sentence = unit.passage, unit.sentence
            if not fresh(passage.source, (sentence.start, sentence.end)):
                continue  # already quoted: as what an earlier quote introduced, or in its context
            n = numbers.setdefault(passage.rank, len(numbers) + 1)
            first_at.setdefault(passage.rank, sentence.start)
            spans = []
            context = unit.context
            if context is None and wants_term:
                context = _contexts(passage, sentence).entry
            # A context that overlaps what is quoted already (the sentence an earlier quote was) is left out.
            if context is not None and fresh(passage.source, context):
                spans.append(context)
            spans.append((sentence.start, sentence.end))
            # A quote ending in a colon brings the items it announces. (Not when its context is what ends in one:
            # that quote is already one of the items, and more of them padded the answer on calibration.)
            items = [(s.start, s.end) for s in introduced(passage, sentence.start, sentence.end)]
            spans += [span for span in items if fresh(passage.source, span)]
            quoted.setdefault(passage.source, []).extend(spans)
            highlights.setdefault(passage.rank, []).extend(spans)
            last = pieces[-1] if pieces else None
            ended = last[1][-1][1] if last else 0
            if last and last[0] == n and spans[0][0] >= ended and not passage.text_between(ended, spans[0][0]).strip():
                last[1].extend(spans)  # it goes on right where the last quote of this passage ended: one quote
            else:
                pieces.append((n, spans, passage))
        text = " ".join(quote_text(passage, spans) + f" [{n}]" for n, spans, passage in pieces)
        by_rank = {p.rank: p for p in passages}
        citations = [
            Citation.from_passage(n, by_rank[rank], tuple(sorted(set(highlights[rank]))), at=first_at[rank])
            for rank, n in numbers.items()
        ]
        return Answer(question, text, citations, refused=False, backend=self.name, passages=list(passages))

    def rank(self, question: str, passages: Sequence[Passage]) -> list[Unit]:
        """Every quotable sentence of the passages as a unit with the ranker's score, best first.

        Overlapping chunks share sentences; each is kept once, with the passage that scores it best.
        """
        best: dict[tuple[str, int, int], Unit] = {}
        keyword_only = getattr(passages, "keyword_only", False)
        for unit, features in candidates(question, passages):
            if keyword_only:
                score = unit.sentence.overlap  # found by keywords alone, cosines are noise
            else:
                score = _sigmoid(sum(w * f for w, f in zip(self.weights, features, strict=True)))
            key = (unit.passage.source, unit.sentence.start, unit.sentence.end)
            if key not in best or score > best[key].score:
                best[key] = dataclasses.replace(unit, score=score)
        return sorted(best.values(), key=lambda unit: -unit.score)

    def confidence(self, question: str, ranked: list[Unit], passages: Sequence[Passage]) -> float:
        """How likely the documents answer the question at all (0 to 1), from the best units and the passages.

        A near miss names what the documents mention but asks what they never state: its best sentence is
        about the subject, scores a little lower, covers less of the question, and a rare question term may
        be missing from every passage.
        """
        return _sigmoid(
            sum(w * f for w, f in zip(self.answerable_weights, answerability(ranked, passages, question), strict=True))
        )

    def _select(self, ranked: list[Unit], weights: dict[str, float], items: int = 1) -> list[Unit]:
        """The best unit, then each further one that answers a part of the question left open.

        A question asking for ``items`` things by number ("Which two arguments ...") gets the next best units
        within ``coverage_margin`` until it has that many, though they hold no question term the quoted ones
        lack: each names one of the things, in the same words ("... (same behavior as the POSIX mkdir -p
        command)" for exist_ok, "... (mimicking the POSIX mkdir -p command)" for parents).
        """
        total = sum(weights.values()) or 1.0
        best = ranked[0]
        chosen = [best]
        covered = set(best.terms)
        close = [u for u in ranked[1:] if u.score >= best.score - self.coverage_margin]
        for unit in close:
            if len(chosen) == self.max_sentences:
                break
            gain = sum(weights.get(term, 0.0) for term in unit.terms - covered) / total
            if gain >= self.min_gain:
                chosen.append(unit)
                covered |= unit.terms
        for unit in close:
            if len(chosen) >= min(items, self.max_sentences):
                break
            if unit not in chosen:
                chosen.append(unit)
        return chosen


def candidates(question: str, passages: Sequence[Passage]) -> list[tuple[Unit, list[float]]]:
    """Every quotable sentence of ``passages`` as an unscored unit, with its feature vector for the ranker.

    Questions and lines without a word are not quotable. ``evals/calibrate.py`` learns the weights from
    these vectors; ``ExtractiveAnswerer.rank`` scores with them.
    """
    term_weights: dict[str, float] = getattr(passages, "term_weights", {})
    total = sum(term_weights.values()) or 1.0
    kind = question_type(question)
    qualifiers = qualifiers_asked(question)
    negated = asks_negated(question)
    wanted = frozenset(term_weights)
    rarest = max(term_weights.values(), default=0.0)
    subject = frozenset(t for t, w in term_weights.items() if w >= SUBJECT_SHARE * rarest)
    named = code_names(question)
    found: list[tuple[Unit, Candidate]] = []
    for passage in passages:
        for sentence in passage.sentences:
            text = passage.sentence_text(sentence)
            section = passage.chunk.place_at(sentence.start).section
            if (
                text.rstrip().endswith(("?", "？"))
                or not _WORD.search(text)
                or is_fragment(text)
                or never_answers(text)
                or is_heading(text, section)
                or echoes(text, wanted)
            ):
                continue
            context, context_terms, opens = _context(passage, sentence, wanted, kind)
            terms = sentence.terms | (context_terms & wanted)
            candidate = Candidate(
                text=_reflowed(text),
                cosine=sentence.score,
                passage_cosine=passage.score,
                overlap=sentence.overlap,
                unit_overlap=sum(term_weights.get(t, 0.0) for t in terms) / total,
                rank=passage.rank,
                has_label=context is not None,
                first_in_block=opens,
                context_text="" if context is None else passage.text_between(*context),
                opens_with_subject=bool(subject & _opening_terms(text)),
                in_named_entry=bool(named) and bool(named & entry_names(innermost_heading(section))),
            )
            found.append((Unit(0.0, sentence, passage, context, terms), candidate))
    if not found:
        return []
    # Each candidate also stands against the question's best ones: the ranker compares within a question.
    top_cosine = max(c.cosine for _, c in found)
    top_passage = max(c.passage_cosine for _, c in found)
    top_overlap = max(c.unit_overlap for _, c in found)
    return [
        (
            unit,
            sentence_features(
                kind,
                dataclasses.replace(
                    c,
                    cosine_gap=c.cosine - top_cosine,
                    passage_gap=c.passage_cosine - top_passage,
                    overlap_gap=c.unit_overlap - top_overlap,
                ),
                qualifiers,
                negated,
            ),
        )
        for unit, c in found
    ]


ANSWERABILITY_NAMES = (
    "bias",
    "best",
    "second",
    "best_coverage",
    "passage_cosine",
    "missing",
    "best_lacks",
    "value_without_value",
    "evidence",
    "qualifier_unstated",
)


_EVIDENCE = ANSWERABILITY_NAMES.index("evidence")  # by name: features are added after it


def answerability(ranked: Sequence[Unit], passages: Sequence[Passage], question: str = "") -> list[float]:
    """The features of ``confidence``, in ``ANSWERABILITY_NAMES`` order.

    ``evidence`` is the best cosine-and-overlap score of a sentence. ``best_lacks`` is the weight of the
    rarest question term the best unit does not hold (the thing a near miss asks about: "maximum",
    "encrypt"); ``value_without_value`` says a question asking for a value got a best unit without a number
    or literal in it.
    """
    weights: dict[str, float] = getattr(passages, "term_weights", {})
    total = sum(weights.values()) or 1.0
    found: set[str] = set()
    for passage in passages:
        for sentence in passage.sentences:
            found |= sentence.terms
    best = ranked[0]
    qualifiers = qualifiers_asked(question)
    return [
        1.0,
        best.score,
        ranked[1].score if len(ranked) > 1 else 0.0,
        sum(weights.get(term, 0.0) for term in best.terms) / total,
        max((p.score for p in passages), default=0.0),
        sum(w for term, w in weights.items() if term not in found) / total,
        max((w for term, w in weights.items() if term not in best.terms), default=0.0) / total,
        float(question_type(question) == "value" and not has_value(best.passage.sentence_text(best.sentence))),
        # The best sentence's cosine and term overlap, mixed as the answerer scored it before it learnt.
        max((0.75 * u.sentence.score + 0.3 * u.sentence.overlap) / 1.05 for u in ranked),
        # "What is the maximum number of remotes?": no sentence near the top says what the most is.
        float(bool(qualifiers) and not any(holds_qualifiers(_unit_text(u), qualifiers) for u in ranked[:3])),
    ]


def _with_neighbour(
    chosen: list[Unit], ranked: list[Unit], finder: Callable[[Passage, ScoredSentence], ScoredSentence | None]
) -> list[Unit]:
    """``chosen`` with the sentence ``finder`` gives for the best one (when quotable), beside it as in the text.

    ``follow_up`` for a yes/no question (the best sentence often says "no", the next one what is so
    instead) and ``verdict_before`` (the sentence before says "not"); ``alternative`` for any (the other case
    of the condition the best sentence states).
    """
    best = chosen[0]
    neighbour = finder(best.passage, best.sentence)
    if neighbour is None:
        return chosen
    key = (best.passage.source, neighbour.start)
    unit = next((u for u in ranked if (u.passage.source, u.sentence.start) == key), None)
    if unit is None or unit in chosen:
        return chosen
    return [unit, *chosen] if neighbour.start < best.sentence.start else [best, unit, *chosen[1:]]


def _in_reading_order(chosen: list[Unit]) -> list[Unit]:
    """``chosen``, with a unit that does not end its sentence put right before the unit it runs into.

    "For example if you issue the command gnuplot -persist -e '...'" (a code line ends it) and "gnuplot will
    open a display window, ..." are one sentence of the manual; chosen second and first, they were quoted
    backwards, with another passage's quote between them. Other units keep their order.
    """
    ordered: list[Unit] = []
    for unit in chosen:
        if not _ends_sentence(unit):
            at = next((i for i, placed in enumerate(ordered) if _runs_into(unit, placed)), len(ordered))
        else:
            after = (
                i + 1 for i, placed in enumerate(ordered) if not _ends_sentence(placed) and _runs_into(placed, unit)
            )
            at = next(after, len(ordered))
        ordered.insert(at, unit)
    return ordered


def _ends_sentence(unit: Unit) -> bool:
    return ENDS_SENTENCE.search(unit.passage.sentence_text(unit.sentence)) is not None


def _runs_into(first: Unit, second: Unit) -> bool:
    """True when ``first`` ends where ``second`` (with its context) starts in the document, only space between."""
    end = first.sentence.end
    start = second.context[0] if second.context else second.sentence.start
    if first.passage.source != second.passage.source or end > start:
        return False
    holder = next((p for p in (first.passage, second.passage) if p.start <= end and start <= p.end), None)
    return holder is not None and not holder.text_between(end, start).strip()


@functools.lru_cache(maxsize=65536)
def _opening_terms(text: str) -> frozenset[str]:
    """The terms of ``text``'s first ``OPENING_WORDS`` words."""
    return frozenset(tokenize(" ".join(text.split()[:OPENING_WORDS])))


def _unit_text(unit: Unit) -> str:
    """The unit's sentence with the context it is quoted with."""
    passage = unit.passage
    spans = [unit.context] if unit.context else []
    spans.append((unit.sentence.start, unit.sentence.end))
    return " ".join(passage.text_between(a, b) for a, b in spans)


@functools.lru_cache(maxsize=65536)
def _reflowed(text: str) -> str:
    return reflow(text)


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, x))))


_Span = tuple[int, int]
# Questions whose answer needs a sentence's label (the signature or option it describes) quoted with it.
_LABEL_KINDS = frozenset({"which", "value", "procedure"})
_Termed = tuple[_Span, frozenset[str]]  # a span of context with its terms


class _Contexts(NamedTuple):
    """What a sentence may be quoted with, whatever the question (``_context`` picks by the question)."""

    labelled: _Termed | None  # its label line
    # the sentence its pronoun stands for (start, end, terms), with that sentence's own label (start, terms)
    referred: tuple[int, int, frozenset[str], tuple[int, frozenset[str]] | None] | None
    intro: _Termed | None  # the line ending in ":" that introduces it
    continued: _Termed | None  # the lines it goes on from (``continued_from``)
    entry: _Span | None  # the term of the entry it sits deep in (``entry_term``): quoted, never ranked
    opens: bool  # whether it opens its block


# (chunk id, sentence start) -> the sentence's _Contexts.
_CONTEXTS: dict[tuple[str, int], _Contexts] = {}
_CONTEXTS_LIMIT = 100_000


def _contexts(passage: Passage, sentence: ScoredSentence) -> _Contexts:
    key = (passage.chunk.id, sentence.start)
    cached = _CONTEXTS.get(key)
    if cached is not None:
        return cached
    label = label_of(passage, sentence)
    labelled = None
    if label is not None:
        labelled = (label, frozenset(tokenize(passage.text_between(*label))))
    previous = antecedent(passage, sentence)
    referred = None
    if previous is not None:
        # The antecedent may open a description: its term goes with it ("--porcelain" / "With list, output
        # in an easy-to-parse format for scripts." / "This format will remain stable ..."), with the term's words.
        term = label_of(passage, previous)
        with_term = None
        if term is not None:
            with_term = (term[0], frozenset(tokenize(passage.text_between(term[0], previous.start))))
        referred = (previous.start, previous.end, frozenset(tokenize(passage.sentence_text(previous))), with_term)
    opens = opens_block(passage, sentence)
    intro = None
    before = [s for s in passage.sentences if s.end <= sentence.start]
    if before and passage.sentence_text(before[-1]).rstrip().endswith(":") and opens:
        intro = ((before[-1].start, before[-1].end), frozenset(tokenize(passage.sentence_text(before[-1]))))
    if len(_CONTEXTS) >= _CONTEXTS_LIMIT:
        _CONTEXTS.clear()  # bounded memory; hot chunks come back quickly
    start = continued_from(passage, sentence)
    continued = None if start is None else (start, frozenset(tokenize(passage.text_between(*start))))
    entry = entry_term(passage, sentence) if label is None else None
    _CONTEXTS[key] = result = _Contexts(labelled, referred, intro, continued, entry, opens)
    return result


def _context(
    passage: Passage, sentence: ScoredSentence, wanted: frozenset[str], kind: str
) -> tuple[_Span | None, frozenset[str], bool]:
    """What ``sentence`` is quoted with, the terms it adds, and whether the sentence opens its block.

    Context is a label, an antecedent, or an introduction, quoted only when the answer needs it: it names
    question terms (``wanted``) the sentence lacks (the function "Recursively copy ..." describes, the model
    "It" stands for), or the question asks which function, option or command, or for a value, which a label
    (a signature, an option) holds.
    """
    labelled, referred, intro, continued, _, opens = _contexts(passage, sentence)
    if continued is not None:  # a sentence cut from its start is never quoted without it
        return continued[0], continued[1], opens
    if labelled is not None:
        span, terms = labelled
        if (terms & wanted) - sentence.terms or kind in _LABEL_KINDS:
            return span, terms, opens
    if referred is not None:
        start, end, terms, with_term = referred
        if (terms & wanted) - sentence.terms:
            if with_term is not None and kind in _LABEL_KINDS:
                term_start, term_terms = with_term
                return (term_start, end), terms | term_terms, opens
            return (start, end), terms, opens
    elif intro is not None:
        return intro[0], intro[1], opens  # "To leave the bisect state, run:" above the command
    return None, frozenset(), opens
