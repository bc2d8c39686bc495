"""What a question gets back: the ``Answer`` with its numbered ``Citation``s, and how it prints.

``Answer.to_dict()`` is the JSON contract shared by ``rag ask --json``, the web chat's ``/ask`` endpoint
and ``rag eval``'s records: ``to_dict`` is that object, and ``rag.answer.wire`` builds every other wire
format of an answer from it.
``_repr_html_`` renders it in Jupyter with every piece of document text escaped. ``format_place`` is how a
citation's place reads (``file.pdf p. 7 §2.4 The glob files``) wherever an answer is shown: here, in
``rag ask`` (``rag.cli.format``) and in the chat.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any

from rag.ingest.readers.base import innermost_heading
from rag.retrieve.passages import Passage

__all__ = ["REFUSAL_TEXT", "Answer", "Citation", "format_place", "highlight_html"]

REFUSAL_TEXT = "I couldn't find this in the documents."

_MARKER = re.compile(r"\[(\d+)\]")


@dataclass(frozen=True)
class Citation:
    """A numbered reference from the answer text (``[n]``) to an exact passage of a source file.

    Attributes:
        n: The number used in the answer text.
        source: File name of the document.
        start: Offset of the passage's first character in the document's text.
        end: Offset one past its last character.
        text: The passage, ``document_text[start:end]``.
        score: Cosine similarity of the passage to the question.
        highlights: Offsets (into the document) of the sentences the answer relies on, for highlighting.
        page: The 1-based physical page of the cited sentence (its first highlight; else the passage's
            start); None for formats without pages.
        page_label: That page's printed label ("iv", "12") when the PDF defines labels.
        section: The heading path of the cited sentence's section ("2. Unified system > 2.4. The glob files").

    Example:
        >>> c = bot.ask("Where was the deal signed?").citations[0]
        >>> Path("seeds", c.source).read_text()[c.start : c.end] == c.text
        True
    """

    n: int
    source: str
    start: int
    end: int
    text: str
    score: float
    highlights: tuple[tuple[int, int], ...] = ()
    page: int | None = None
    page_label: str | None = None
    section: str | None = None

    @classmethod
    def from_passage(
        cls, n: int, passage: Passage, highlights: tuple[tuple[int, int], ...] = (), at: int | None = None
    ) -> Citation:
        """Cite ``passage`` as number ``n``; page and section are those of its first highlighted sentence.

        ``at``, when given, is the offset of the sentence the citation is for (its highlights may add the
        term or the sentence before it, which it needs to be read): page and section are that sentence's.

        (The passage's start when nothing is highlighted; ``Chunk.place_at`` gives any other sentence's.)
        """
        place = passage.chunk.place_at(at if at is not None else min(highlights)[0] if highlights else passage.start)
        return cls(
            n,
            passage.source,
            passage.start,
            passage.end,
            passage.text,
            passage.score,
            highlights,
            page=place.page,
            page_label=place.page_label,
            section=place.section,
        )

    def to_dict(self) -> dict[str, Any]:
        """The citation as ``rag ask --json`` prints it (n, source, start, end, text, score, page, label, section)."""
        return {
            "n": self.n,
            "source": self.source,
            "start": self.start,
            "end": self.end,
            "text": self.text,
            "score": round(self.score, 4),
            "page": self.page,
            "page_label": self.page_label,
            "section": self.section,
        }


@dataclass
class Answer:
    """The reply to a question.

    Attributes:
        question: The question as asked.
        text: The answer, with ``[n]`` markers that refer to ``citations``.
        citations: The cited passages, numbered from 1 in order of first use.
        refused: True when the documents do not answer the question.
        backend: The answerer that actually produced the text (after any fallback).
        notice: None, or a sentence for the user such as why a fallback happened.
        timings_ms: Milliseconds spent in ``retrieve``, ``answer`` and in ``total``.
        passages: Every passage that was retrieved, cited or not, best first.
        standalone_question: The question actually searched for, when a follow-up was rewritten.
        unsupported_sentences: Sentences of the answer that no cited passage supports.
        verification: What verification did to an LLM answer (``rag.answer.verify``): ``"verified"``,
            ``"partial"`` (see ``unsupported_sentences``), ``"replaced"`` (the model's answer could not be
            verified, so this is the extractive answer or refusal), ``"flagged"``, ``"off"``, or
            ``"not_needed"`` (an extractive answer or a refusal).

    Example:
        >>> answer = bot.ask("How many tokens was Mi:dm trained on?")
        >>> answer.text
        'Mi:dm was trained on over one trillion tokens. [1] ...'
        >>> answer.to_dict()["citations"][0]["source"]
        '001_a4f8977f78a39ff4.txt'
    """

    question: str
    text: str
    citations: list[Citation]
    refused: bool
    backend: str
    notice: str | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    passages: list[Passage] = field(default_factory=list, repr=False)
    standalone_question: str | None = None
    unsupported_sentences: list[str] = field(default_factory=list)
    verification: str = "not_needed"

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of ``rag ask --json``, ``POST /api/ask`` and the MCP ``ask`` tool (``rag.answer.wire``)."""
        return {
            "question": self.question,
            "answer": self.text,
            "refused": self.refused,
            "backend": self.backend,
            "notice": self.notice,
            "citations": [c.to_dict() for c in self.citations],
            "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
            "verification": self.verification,
        }

    def __str__(self) -> str:
        return self._repr_markdown_()

    def _repr_markdown_(self) -> str:
        lines = [self.text]
        if self.notice:
            lines += ["", f"*{self.notice}*"]
        if self.citations:
            lines.append("")
        for c in self.citations:
            snippet = " ".join(c.text.split())
            where = format_place(c.source, c.page, c.page_label, c.section)
            lines.append(f"[{c.n}] {where} [{c.start}:{c.end}] (score {c.score:.2f}): {snippet}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """Jupyter rendering: the answer with ``[n]`` links to the cited passages listed beneath."""
        anchor = f"rag-{id(self):x}"

        def link(match: re.Match[str]) -> str:
            n = match.group(1)
            return f'<a href="#{anchor}-{n}" style="text-decoration:none"><sup>[{n}]</sup></a>'

        body = _MARKER.sub(link, html.escape(self.text))
        style = "color:#8a4b00" if self.refused else ""
        parts = [f'<div class="rag-answer"><p style="{style}">{body}</p>']
        if self.notice:
            parts.append(f'<p style="color:#8a4b00;font-style:italic">{html.escape(self.notice)}</p>')
        for c in self.citations:
            where = format_place("", c.page, c.page_label, c.section).strip()
            parts.append(
                f'<div id="{anchor}-{c.n}" style="border-left:3px solid #999;margin:6px 0;padding:2px 8px">'
                f"<b>[{c.n}]</b> <code>{html.escape(c.source)}</code> "
                + (f'<span class="rag-place">{html.escape(where)}</span> ' if where else "")
                + f"<small>chars {c.start}–{c.end} · score {c.score:.2f}</small>"
                f"<div>{highlight_html(c.text, c.start, c.highlights)}</div></div>"
            )
        parts.append("</div>")
        return "".join(parts)


def highlight_html(text: str, offset: int, spans: tuple[tuple[int, int], ...]) -> str:
    """Escape ``text`` and wrap the ``spans`` (document offsets; ``text`` starts at ``offset``) in ``<mark>``."""
    out: list[str] = []
    cursor = 0
    for start, end in sorted(spans):
        start, end = max(start - offset, cursor), min(end - offset, len(text))
        if start >= end:
            continue
        out.append(html.escape(text[cursor:start]))
        out.append(f"<mark>{html.escape(text[start:end])}</mark>")
        cursor = end
    out.append(html.escape(text[cursor:]))
    return "".join(out)


def format_place(source: str, page: int | None, page_label: str | None, section: str | None) -> str:
    """``file.pdf p. 7 §2.4 The glob files``: the page and the innermost heading, where known."""
    parts = [source]
    if page is not None:
        printed = f" (printed {page_label})" if page_label and page_label != str(page) else ""
        parts.append(f"p. {page}{printed}")
    if section:
        heading = innermost_heading(section)
        number, _, title = heading.partition(" ")
        # "2.4. The glob files" reads "§2.4 The glob files"; a heading without a number "§ Charging".
        if number.rstrip(".").replace(".", "").isdigit():
            parts.append(f"§{number.rstrip('.')} {title}".rstrip())
        else:
            parts.append(f"§ {heading}")
    return " ".join(parts)
