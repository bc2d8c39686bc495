#!/usr/bin/env python3
r"""Check every answer of a ``rag eval --out`` run reads as clean quoted text: whole sentences, no Markdown.

Usage::

    rag eval --docs evals/real/docs --index index-real --qa evals/real/calibration.jsonl --out run.jsonl
    python3 evals/real/check_answers.py run.jsonl

Each quote of an answer (the text before each ``[n]``) must

- not end mid-sentence: it ends with sentence punctuation, a closing bracket or quote, or (for a code line,
  a table row or a term) at least not with a word that cannot end a sentence ("the", "of", "and", a comma);
- hold no Markdown: no backslash escapes (``exist\_ok``, ``\[0\]``, ``\>>>``), no emphasis markers around
  a word (``*parents*``, ``**bold**``), no pilcrow (``¶``) and no soft hyphen or U+FFFE;
- say something: at least one letter or digit.

It prints each offending answer and exits 1 when there is one, else prints a one-line summary and exits 0.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path

_MARKER = re.compile(r"\s*\[\d+\]")
# A quote is the text up to each run of citation markers.
_QUOTE = re.compile(r"(.+?)(?:\s*\[\d+\])+", re.DOTALL)
_DANGLING = re.compile(
    r"(?:\b(?:the|a|an|of|to|and|or|in|for|with|by|from|that|as|at|on|is|are|be|if|when|than|but|nor)|[,(\-–])$",
    re.IGNORECASE,
)
_MARKDOWN = re.compile(r"\\[_*\[\]()>#`|]|(?<![\w*])\*{1,2}[A-Za-z][^*\n]{0,60}\*{1,2}(?![\w*])|¶|\u00ad|\ufffe")


def quotes(answer: str) -> list[str]:
    """The quoted pieces of an extractive answer: the text before each run of ``[n]`` markers."""
    return [match.group(1).strip() for match in _QUOTE.finditer(answer)]


_PROMPT = re.compile(r"(?:^|\s)(?:>>>|\.\.\.)\s")


def problems(answer: str, printed: Sequence[str] = ()) -> list[str]:
    """What is wrong with an answer's quotes (empty when nothing is).

    A quote holding an interactive code line (``>>> re.sub(pattern, ...``) is verbatim code: it may end on a
    comma and hold backslashes, so only its emptiness is checked. ``printed`` are cited passages of documents
    that are not web pages (a PDF, a text file): Markdown escapes come from converting HTML, so a backslash
    such a passage itself holds (asymptote.pdf: "continued by a final backslash character", then a backslash and
    a parenthesis) is the manual's own text.
    """
    found = []
    for quote in quotes(answer):
        if _PROMPT.search(quote):
            continue
        if not re.search(r"\w", quote):
            found.append(f"empty quote {quote!r}")
        elif _DANGLING.search(quote.rstrip()):
            found.append(f"ends mid-sentence: {quote[-60:]!r}")
        markdown = _MARKDOWN.search(quote)
        if markdown and not any(markdown.group() in text for text in printed):
            found.append(f"Markdown {markdown.group()!r} in {quote[:80]!r}")
    return found


def main(argv: list[str]) -> int:
    """Check the records files named in ``argv``."""
    if not argv:
        print(__doc__)
        return 2
    answers = bad = 0
    for name in argv:
        for line in Path(name).read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            record = json.loads(line)
            if record.get("refused"):
                continue
            answers += 1
            printed = [
                citation["text"]
                for citation in record.get("citations", [])
                if not citation["source"].lower().endswith((".html", ".htm"))
            ]
            found = problems(record["answer"], printed)
            if found:
                bad += 1
                print(f"{record.get('id', '?')}: {'; '.join(found)}")
    if bad:
        print(f"check_answers.py: {bad} of {answers} answers are not clean quotes", file=sys.stderr)
        return 1
    print(f"check_answers.py: {answers} answers, every quote a whole sentence without Markdown")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
