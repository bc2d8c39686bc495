"""Follow-up questions: spotting them and turning them into standalone questions before retrieval.

"And when will they share the details?" retrieves nothing useful on its own. With an LLM answerer the
model rewrites it from the conversation; with the extractive default (or when the LLM is unreachable) a
light heuristic appends the key words of the previous question.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

__all__ = ["History", "heuristic_rewrite", "looks_like_follow_up", "normalize_history"]

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


def normalize_history(history: History | None) -> list[tuple[str, str]]:
    """Accept ``[{"role": ..., "content": ...}]`` (OpenAI/Gradio style) or ``[(role, text)]``."""
    turns: list[tuple[str, str]] = []
    for turn in history or []:
        if isinstance(turn, Mapping):
            role, content = str(turn.get("role", "")), turn.get("content", "")
        else:
            role, content = turn
        if isinstance(content, str) and content.strip() and role in {"user", "assistant"}:
            turns.append((role, content))
    return turns


def looks_like_follow_up(question: str) -> bool:
    """True for questions that lean on the conversation: "and when?", "what did they say?", very short ones."""
    words = question.split()
    return bool(_FOLLOW_UP_START.search(question.strip()) or _ANAPHORA.search(question) or len(words) <= 3)


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
