"""An ``Answer`` (and retrieved passages) in each wire format: the one place every door formats them.

Text a person reads (the answer, a cited passage) goes out as ``rag.answer.display.plain_text``: reflowed
prose, code blocks line for line, and no Markdown escapes, emphasis markers or fences; ``start``/``end`` still
point into the document's extracted text (``bot.document_text``), which keeps the source's exact characters.

- ``ask_json``: the object of ``rag ask --json`` and ``POST /api/ask``: ``Answer.to_dict()`` with the answer
  and each citation's text as read; a citation is ``citation_json`` (``n, source, start, end, text, score,
  page, page_label, section``).
- ``OpenAICompletion``: an answer as an OpenAI chat completion (``/v1/chat/completions``), whole or as
  stream chunks. The citations ride in a top-level ``"citations"`` array (on the response, or on the final
  chunk, the one with ``finish_reason``), and ``rag_json`` in a top-level ``"rag"`` object; the ``openai``
  client reads both as extra fields. ``openai_error`` is OpenAI's error body.
- ``mcp_search``, ``mcp_ask``, ``mcp_documents``, ``mcp_document_text``: MCP tool results, each as
  structured content plus a short text rendering in which document text sits in the same ``<passage>``
  blocks an LLM prompt uses (``rag.answer.delimiting``), so a client's model reads it as data.
- ``passage_json``: a retrieved passage (the MCP ``search`` tool, the LangChain retriever's metadata).

The doors (CLI, REST API, ``/v1``, MCP) call these; none builds its own copy of a format.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rag.answer.delimiting import delimit_passage
from rag.answer.display import plain_text
from rag.answer.types import Answer, Citation

if TYPE_CHECKING:
    from rag.indexing.catalog import DocumentInfo
    from rag.retrieve.passages import Passage

__all__ = [
    "MAX_READ_CHARS",
    "OpenAICompletion",
    "answer_text",
    "ask_json",
    "citation_json",
    "mcp_ask",
    "mcp_document_text",
    "mcp_documents",
    "mcp_search",
    "openai_error",
    "passage_json",
    "rag_json",
]

# The most text one MCP read_document call returns; a longer document is read in steps (next_start).
MAX_READ_CHARS = 20_000

# A few words per stream chunk: readers see it arrive, and a long answer is not hundreds of events.
_PIECE = re.compile(r"(?:\S+\s*){1,4}")


def citation_json(citation: Citation) -> dict[str, Any]:
    """A citation as ``rag ask --json`` prints it: ``Citation.to_dict`` with its text as read (``plain_text``)."""
    return {**citation.to_dict(), "text": plain_text(citation.text, cites=False)}


def answer_text(answer: Answer) -> str:
    """The answer as read: ``[n]`` markers kept, Markdown markup gone, prose reflowed (``plain_text``)."""
    return plain_text(answer.text)


def ask_json(answer: Answer) -> dict[str, Any]:
    """The JSON object of ``rag ask --json`` (and ``POST /api/ask``, the MCP ``ask`` tool, conversation exports)."""
    return {
        **answer.to_dict(),
        "answer": answer_text(answer),
        "citations": [citation_json(c) for c in answer.citations],
    }


def rag_json(answer: Answer) -> dict[str, Any]:
    """What an OpenAI completion cannot say in its own fields: refusal, notice, verification, backend.

    ``standalone_question`` is the question actually searched for when a follow-up was rewritten (else None).
    """
    return {
        "refused": answer.refused,
        "notice": answer.notice,
        "verification": answer.verification,
        "backend": answer.backend,
        "standalone_question": answer.standalone_question,
    }


def passage_json(passage: Passage, *, text: bool = True) -> dict[str, Any]:
    """A retrieved passage: where it is (source, offsets, page, section), how close it is, and its text."""
    out: dict[str, Any] = {
        "rank": passage.rank,
        "source": passage.source,
        "start": passage.start,
        "end": passage.end,
        "score": round(passage.score, 4),
        "page": passage.page,
        "page_label": passage.page_label,
        "section": passage.section,
    }
    if text:
        out["text"] = passage.text
    return out


# ------------------------------------------------------------------------------------------- OpenAI


def openai_error(message: str, *, type: str, code: str | None = None, param: str | None = None) -> dict[str, Any]:
    """OpenAI's error body, which its client raises as the exception of the status (401: AuthenticationError)."""
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


@dataclass(frozen=True)
class OpenAICompletion:
    """One chat completion: its id, model and time, shared by the whole response or all of its chunks."""

    model: str
    id: str = field(default_factory=lambda: f"chatcmpl-{uuid.uuid4().hex}")
    created: int = field(default_factory=lambda: int(time.time()))

    def response(self, answer: Answer) -> dict[str, Any]:
        """The non-streamed ``chat.completion``: the answer as the message, with ``citations`` and ``rag``."""
        message = {"role": "assistant", "content": answer_text(answer), "refusal": None}
        choice = {"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}
        return {**self._head("chat.completion"), "choices": [choice], **self._extras(answer)}

    def opening_chunk(self) -> dict[str, Any]:
        """The first ``chat.completion.chunk``: the assistant's role, sent before the answer is ready."""
        return self._chunk({"role": "assistant", "content": ""})

    def answer_chunks(self, answer: Answer) -> Iterator[dict[str, Any]]:
        """The answer's text a few words per chunk, then the final chunk: ``finish_reason``, citations, rag.

        The chunks' contents concatenate to exactly ``answer_text(answer)``, so the ``[n]`` markers match
        ``citations``.
        """
        text = answer_text(answer)
        for piece in _PIECE.findall(text) or [text]:
            yield self._chunk({"content": piece})
        yield {**self._chunk({}, finish_reason="stop"), **self._extras(answer)}

    def _head(self, kind: str) -> dict[str, Any]:
        return {"id": self.id, "object": kind, "created": self.created, "model": self.model}

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}
        return {**self._head("chat.completion.chunk"), "choices": [choice]}

    @staticmethod
    def _extras(answer: Answer) -> dict[str, Any]:
        return {"citations": [citation_json(c) for c in answer.citations], "rag": rag_json(answer)}


# ---------------------------------------------------------------------------------------------- MCP


def _blocks(items: Sequence[tuple[int, str, str]]) -> str:
    return "<passages>\n" + "\n".join(delimit_passage(n, source, text) for n, source, text in items) + "\n</passages>"


def mcp_search(query: str, passages: Sequence[Passage]) -> tuple[dict[str, Any], str]:
    """The ``search`` tool's result: the passages best first, and their text in delimited blocks."""
    found = [passage_json(p) for p in passages]
    lines = [f"{len(found)} passage(s) for {query!r}, best first (n is the rank):"]
    lines += [f"[{p['rank']}] {_place(p)}, score {p['score']}" for p in found]
    text = "\n".join(lines) + "\n\n" + _blocks([(p.rank, p.source, p.text) for p in passages]) if found else lines[0]
    return {"query": query, "passages": found}, text


def mcp_ask(answer: Answer) -> tuple[dict[str, Any], str]:
    """The ``ask`` tool's result: the ``rag ask --json`` object, and the answer with its cited passages."""
    lines = [answer_text(answer)]
    if answer.notice:
        lines += ["", f"({answer.notice})"]
    if answer.citations:
        lines += ["", "Cited passages:"]
        lines += [f"[{c.n}] {_place(citation_json(c))}" for c in answer.citations]
        lines += ["", _blocks([(c.n, c.source, c.text) for c in answer.citations])]
    return ask_json(answer), "\n".join(lines)


def mcp_documents(documents: Sequence[DocumentInfo]) -> tuple[dict[str, Any], str]:
    """The ``list_documents`` tool's result: every document with its type, size, pages and status."""
    listed = [d.to_dict() for d in documents]
    lines = [f"{len(listed)} document(s):"]
    for d in listed:
        pages = f", {d['pages']} pages" if d["pages"] else ""
        lines.append(f"- {d['name']} ({d['type']}{pages}, {d['status']})")
    return {"documents": listed}, "\n".join(lines)


def mcp_document_text(name: str, text: str, start: int = 0, end: int | None = None) -> tuple[dict[str, Any], str]:
    """The ``read_document`` tool's result: ``text[start:end]``, at most ``MAX_READ_CHARS`` characters.

    ``next_start`` is where the next call should start when more text follows, else None.

    Raises:
        ValueError: ``start`` or ``end`` lies outside the text, or ``end`` is not after ``start``.
    """
    total = len(text)
    if not 0 <= start <= total:
        raise ValueError(f"start must be between 0 and {total} (the document's length), got {start}")
    if end is not None and end <= start:
        raise ValueError(f"end must be greater than start ({start}), got {end}")
    stop = min(total, start + MAX_READ_CHARS, total if end is None else end)
    piece = text[start:stop]
    more = stop < (total if end is None else min(end, total))
    result = {
        "name": name,
        "start": start,
        "end": stop,
        "total_chars": total,
        "next_start": stop if more else None,
        "text": piece,
    }
    header = f"{name}: characters {start}-{stop} of {total}"
    if more:
        header += f" (more follows: call again with start={stop})"
    return result, f"{header}\n\n{_blocks([(1, name, piece)])}"


def _place(item: dict[str, Any]) -> str:
    """``file.pdf, page 3 (printed 2), section "2 Configuration > 2.1 Ports", chars 588-1300``."""
    parts = [str(item["source"])]
    if item.get("page") is not None:
        label = item.get("page_label")
        parts.append(f"page {item['page']}" + (f" (printed {label})" if label and label != str(item["page"]) else ""))
    if item.get("section"):
        parts.append(f"section {json.dumps(item['section'], ensure_ascii=False)}")
    parts.append(f"chars {item['start']}-{item['end']}")
    return ", ".join(parts)
