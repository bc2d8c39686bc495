"""Follow-up questions: spotting them and turning them into standalone questions before retrieval.

"And when will they share the details?" retrieves nothing useful on its own. A question is taken for a
follow-up on evidence: it opens like one ("and", "what about") or leans on a pronoun ("they", "it"), or the
pipeline finds that it retrieves nothing answerable on its own while its rewrite does. Its length says
nothing: "Who is Jain?" stands alone. With an LLM answerer the model rewrites a follow-up from the
conversation; with the extractive default (or when the LLM is unreachable) a light heuristic appends the key
words of the previous question. ``follow_up_terms`` are the words a follow-up adds ("unsubscribe"): an
answer that speaks to none of them answers the previous question again, not this one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from rag.errors import QuestionError
from rag.ingest.terms import tokenize

__all__ = ["History", "follow_up_terms", "heuristic_rewrite", "looks_like_follow_up", "normalize_history"]

History = Sequence[Mapping[str, str]] | Sequence[tuple[str, str]]

_FOLLOW_UP_START = re.compile(
    r"^(and|but|also|so|then|what about|how about|and what|and when|and where|why not)\b", re.I
)
_ANAPHORA = re.compile(r"\b(they|them|their|theirs|it|its|he|she|his|her|this|that|these|those|there|the deal)\b", re.I)
_WORD = re.compile(r"[\w][\w:'’-]*")
_SKIP = frozenset(
    """a an and are as at be but by did do does for from had has have how i in is it its of on or that the
    their them they this to was were what when where which who whom why will with would you your me my we
    our us can could should about into than then there these those so if not no tell please""".split()
)


_ROLES = frozenset({"user", "assistant", "system"})


def normalize_history(history: History | None) -> list[tuple[str, str]]:
    """Accept ``[{"role": ..., "content": ...}]`` (OpenAI/Gradio style), ``[(role, text)]`` or ``[(question, answer)]``.

    A pair whose first item is not a role ("user", "assistant", "system") is a question and its answer.

    Raises:
        QuestionError: An item is none of these shapes.
    """
    turns: list[tuple[str, str]] = []
    for number, turn in enumerate(history or []):
        if isinstance(turn, Mapping):
            pairs = [(str(turn.get("role", "")), turn.get("content", ""))]
        elif isinstance(turn, (tuple, list)) and len(turn) == 2 and all(isinstance(x, str) for x in turn):
            first, second = turn
            pairs = [(first, second)] if first in _ROLES else [("user", first), ("assistant", second)]
        else:
            raise QuestionError(
                f"history item {number} is {turn!r}; give the history as {{'role': ..., 'content': ...}} dicts, "
                "(role, text) pairs or (question, answer) pairs"
            )
        for role, content in pairs:
            if isinstance(content, str) and content.strip() and role in {"user", "assistant"}:
                turns.append((role, content))
    return turns


def looks_like_follow_up(question: str) -> bool:
    """True for questions whose words lean on the conversation: "and when?", "what did they say?".

    Short is not enough ("Who is Jain?"); the pipeline also tries a rewrite when a question finds nothing alone.
    """
    return bool(_FOLLOW_UP_START.search(question.strip()) or _ANAPHORA.search(question))


def follow_up_terms(question: str, history: Sequence[tuple[str, str]]) -> dict[str, str]:
    """The search terms ``question`` adds to the previous question, each with the word it came from.

    ``"and how do I unsubscribe?"`` after a question about subscribing adds ``{"unsubscrib": "unsubscribe"}``
    (the key is the term as tokenized).
    """
    previous = next((text for role, text in reversed(history) if role == "user"), "")
    known = set(tokenize(previous))
    added: dict[str, str] = {}
    for word in _WORD.findall(question):
        for term in tokenize(word):
            if term not in known:
                added.setdefault(term, word)
    return added


def heuristic_rewrite(question: str, history: Sequence[tuple[str, str]]) -> str:
    """Append the previous question's key words that this one lacks: ``"and when? (KT Microsoft deal)"``."""
    previous = next((text for role, text in reversed(history) if role == "user"), None)
    if previous is None:
        return question
    present = {w.lower() for w in _WORD.findall(question)}
    keys: list[str] = []
    for word in _WORD.findall(previous):
        lower = word.lower()
        if lower not in _SKIP and lower not in present and word not in keys:
            keys.append(word)
    return f"{question.strip()} ({' '.join(keys)})" if keys else question
