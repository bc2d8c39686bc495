"""What counts as a question: ``validate_question`` checks one before anything is searched or asked."""

from __future__ import annotations

import re

from rag.errors import QuestionError

__all__ = ["validate_question"]

_HAS_WORD = re.compile(r"\w", re.UNICODE)


def validate_question(question: object, max_chars: int = 4000) -> str:
    """Return ``question`` stripped, or raise ``QuestionError`` saying what is wrong with it.

    Raises:
        QuestionError: Not a string, empty, longer than ``max_chars``, with NUL bytes, or with no letter
            or digit to search for.
    """
    if not isinstance(question, str):
        raise QuestionError(f"a question must be a string, got {type(question).__name__}")
    text = question.strip()
    if not text:
        raise QuestionError("the question is empty; type a question about the documents")
    if len(text) > max_chars:
        raise QuestionError(f"the question is {len(text):,} characters long; the limit is {max_chars:,}")
    if "\x00" in text:
        raise QuestionError("the question contains NUL bytes")
    if not _HAS_WORD.search(text):
        raise QuestionError("the question has no words in it, only punctuation or symbols")
    return text
