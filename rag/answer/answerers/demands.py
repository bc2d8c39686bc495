"""What the form of a question demands of its answer, whatever the sentences' scores.

How many things it asks for by number ("Which two arguments ...": ``items_asked``), and what a sentence must
state to answer it at all: "how many" wants a figure and "how much" an amount; "when did / will" wants a
time; "the chief executive of SK Telecom" wants the relation stated next to its subject; "the maximum number
of remotes" wants a maximum, a value, and the remotes (``states_qualified_value``). A sentence without it
is at best about the subject ("KT didn't provide further details" for "When will KT share the details?"), so
the extractive answerer (``rag.answer.answerers.extractive``) never quotes it for such a question, and refuses
when no sentence is left.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from rag.answer.answerers.features import (
    has_value,
    holds_qualifiers,
    qualified_subject,
    qualifiers_asked,
    question_type,
)
from rag.ingest.terms import tokenize
from rag.retrieve.passages import ScoredSentence
from rag.retrieve.vocabulary import expand_aliases

__all__ = [
    "QUANTITY",
    "TIME",
    "Demands",
    "demands_of",
    "items_asked",
    "relation_asked",
    "states_qualified_value",
    "states_relation",
]

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
RELATION_WINDOW = 3  # most terms between the relation and its subject: "SK Telecom's new CEO", "CEO of SK Telecom"


# "Which two Path.mkdir() arguments ...", "In which three formats ...": the question says how many things it
# wants, and the sentences naming them may each hold the same question terms.
# ("the two companies" names a subject, not what is asked.)
_ITEMS_ASKED = re.compile(r"\b(?:which|what)\s+(two|three|four|2|3|4)(?![.\-\w])", re.I)  # not "3.8", "three-way"
_NUMBERS = {"two": 2, "three": 3, "four": 4, "2": 2, "3": 3, "4": 4}


def items_asked(question: str) -> int:
    """How many things ``question`` asks for by number ("which two ...": 2); 1 when it does not say."""
    match = _ITEMS_ASKED.search(question)
    return 1 if match is None else _NUMBERS[match.group(1).lower()]


@dataclass(frozen=True)
class Demands:
    """What the form of one question demands of every sentence that answers it (``demands_of``).

    Attributes:
        relation: For "the X of Y": X's terms and Y's (``relation_asked``), else None.
        quantity: For "how many / much": what the sentence must hold, else None.
        time: Whether it asks "when did / will": the sentence must name a time.
    """

    relation: tuple[frozenset[str], tuple[str, ...]] | None
    quantity: re.Pattern[str] | None
    time: bool

    def stated_by(self, text: str, sentence: ScoredSentence) -> bool:
        """False when ``text`` (``sentence``'s text) lacks what the question demands of an answer."""
        if self.relation is not None and not states_relation(text, sentence, *self.relation):
            return False
        if self.quantity is not None and not self.quantity.search(text):
            return False
        return not (self.time and not TIME.search(text))


def demands_of(question: str) -> Demands:
    """What ``question``'s form demands of an answer, read once per question (every candidate is checked)."""
    asks = QUANTITY_QUESTION.match(question)
    return Demands(
        relation_asked(question),
        QUANTITY[asks.group(1).lower()] if asks else None,
        TIME_QUESTION.match(question) is not None,
    )


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


# A default stated in words: "Default is rowsfirst and downwards.", "The mode defaults to sequential."
_DEFAULT_IN_WORDS = re.compile(r"\bdefaults?\s+(?:is|are|to)\s+\w|\bdefault\s+value\s+is\s+\w", re.I)


def states_qualified_value(question: str, texts: Sequence[str]) -> bool:
    """False when ``question`` asks for a value under a qualifier and none of ``texts`` states one.

    "What is the maximum number of remotes a repository can have?" names what a manual describes (remotes)
    and asks for a limit it never gives: a sentence about remotes that names no limit and holds no value
    is no answer. A question asking for two ("the default, and the smallest I can set") is answered by a
    unit stating either (the parts may sit in two sentences); a keyword default in a signature
    (``mode=0o666``) states a default, and so does "Default is rowsfirst and downwards." (a value in words).
    """
    qualifiers = qualifiers_asked(question)
    if not qualifiers or question_type(question) != "value":
        return True
    subject = qualified_subject(question)
    return any(
        (has_value(text) or ("default" in qualifiers and _DEFAULT_IN_WORDS.search(text) is not None))
        and any(holds_qualifiers(text, frozenset({name})) for name in qualifiers)
        and (not subject or bool(subject & set(tokenize(text))))
        for text in texts
    )
