"""How ``rag ask`` prints an answer for people: each citation as "where" plus the sentence it quotes.

::

    The relay listens on port 7431 by default. [1]

    [1] lantern-manual.pdf p. 3 (printed 2) §2.1 Ports  chars 562-751
        “The relay listens on port 7431 by default.”

A citation's place (``rag.answer.types.format_place``) is its file, then the page (with the printed label
when the PDF's differs from the physical number) and the section's own heading, then the character offsets
into the extracted text. Under it come the sentences the answer relies on, as read (``rag.answer.display``:
reflowed, no Markdown markup),
each with its own page or section when that differs from the citation's. ``verbose`` adds the whole passage.
"""

from __future__ import annotations

import textwrap

from rag.answer.display import plain_text
from rag.answer.types import Answer, Citation, format_place
from rag.answer.wire import answer_text
from rag.ingest.chunking import Chunk, Place

__all__ = ["format_answer"]

_INDENT = "    "
_WIDTH = 100


def format_answer(answer: Answer, *, verbose: bool = False) -> str:
    """The answer text, any notice, then each citation's place and cited sentences (and passage when verbose)."""
    lines = [answer_text(answer)]
    if answer.notice:
        lines += ["", f"({answer.notice})"]
    chunks = {(p.source, p.start, p.end): p.chunk for p in answer.passages}
    for citation in answer.citations:
        lines.append("")
        lines.extend(_citation_lines(citation, chunks.get((citation.source, citation.start, citation.end)), verbose))
    return "\n".join(lines)


def _citation_lines(citation: Citation, chunk: Chunk | None, verbose: bool) -> list[str]:
    header = format_place(citation.source, citation.page, citation.page_label, citation.section)
    lines = [f"[{citation.n}] {header}  chars {citation.start}-{citation.end}"]
    here = Place(citation.start, citation.page, citation.page_label, citation.section)
    for start, end in citation.highlights:
        sentence = plain_text(citation.text[start - citation.start : end - citation.start], cites=False)
        place = chunk.place_at(start) if chunk is not None else here
        where = ""
        if place[1:] != here[1:]:
            where = f" ({format_place('', place.page, place.page_label, place.section).strip()})"
        lines.extend(_wrap(f"“{sentence}”{where}"))
    if verbose or not citation.highlights:
        for line in plain_text(citation.text, cites=False).splitlines():  # code keeps its lines
            if line.strip():
                lines.extend(_wrap(line))
        lines.append(f"{_INDENT}(score {citation.score:.2f})")
    return lines


def _wrap(text: str) -> list[str]:
    return textwrap.wrap(text, _WIDTH, initial_indent=_INDENT, subsequent_indent=_INDENT) or [_INDENT]
