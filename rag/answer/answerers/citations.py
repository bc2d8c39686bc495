"""How an LLM's reply names its passages: the marker styles real models write, and structured JSON citations.

Two ways in, one way out. Both end as answer text with ``[n]`` markers (``n`` as shown in the prompt),
which ``rag.answer.answerers.llm.parse_reply`` then checks and renumbers:

- ``normalize_markers`` rewrites the styles models actually use instead of the ``[1]`` they were asked
  for: ``[1, 2]``, ``[1][2]``, ``【1】``, ``[Passage 2]``, ``(Passage 2)``, ``(passages 1 and 3)``,
  ``Source: 1``, ``(Sources: 1, 2)``;
- ``citation_schema`` is the JSON Schema of a constrained reply in which every sentence carries the ids of
  its passages, each limited by an ``enum`` to the numbers shown (and the list bounded by ``maxItems``, or
  a small model lists ids until it runs out of tokens); ``structured_to_text`` turns such a reply into
  marked text, and ``completed_sentences`` reads the sentences already complete in a streamed one.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = [
    "STRUCTURED_PROMPT",
    "citation_schema",
    "completed_sentences",
    "normalize_markers",
    "structured_to_text",
]

STRUCTURED_PROMPT = """Reply with a JSON object {"sentences": [{"text": "...", "passages": [n, ...]}, ...]}: one entry
per sentence of your answer, each listing the numbers of the passages that sentence comes from. If the passages do
not contain the answer, reply with the single sentence "I couldn't find this in the documents." and no passages."""

MAX_SENTENCES = 6
MAX_IDS_PER_SENTENCE = 3
MAX_SENTENCE_CHARS = 300

_IDS = r"\d+(?:\s*(?:,|and|&)\s*\d+)*"
# Longest forms first: "(Passage 2)" must not be read as "[2]" plus a stray "(Passage )".
_STYLES = [
    # (Passage 2), (passages 1 and 3), [Passage 2], (Source: 1), (Sources: 1, 2), [Doc 1]
    re.compile(rf"[(\[]\s*(?:passages?|sources?|docs?|documents?)\s*:?\s*#?({_IDS})\s*[)\]]", re.IGNORECASE),
    # 【1】, 【1, 2】 (full-width brackets, as Chinese-trained models write)
    re.compile(rf"【\s*({_IDS})\s*】"),
    # [1, 2], [1 and 2]
    re.compile(rf"\[\s*({_IDS})\s*\]"),
    # Source: 1 / Sources: 1, 2 / Passage 2 (bare, usually at the end of a sentence)
    re.compile(rf"\b(?:sources?|passages?)\s*:?\s*#?({_IDS})\b", re.IGNORECASE),
]
_SPLIT_IDS = re.compile(r"\s*(?:,|and|&)\s*")
_GLUED = re.compile(r"(?<=[^\s\[\]])(\[\d+\])")  # "Redmond[1]" (from "Redmond【1】") -> "Redmond [1]"


def normalize_markers(text: str) -> str:
    """Rewrite every citation style in ``text`` as plain ``[n]`` markers, one per passage.

    Example:
        >>> normalize_markers("Signed in Redmond (Passage 2). Source: 1, 3")
        'Signed in Redmond [2]. [1][3]'
    """

    def markers(match: re.Match[str]) -> str:
        return "".join(f"[{n}]" for n in _SPLIT_IDS.split(match.group(1).strip()) if n)

    for style in _STYLES:
        text = style.sub(markers, text)
    return _GLUED.sub(r" \1", text)


def citation_schema(n_passages: int) -> dict[str, Any]:
    """The JSON Schema of a cited answer whose passage ids are limited to ``1..n_passages``."""
    ids: dict[str, Any] = {"type": "integer", "enum": list(range(1, n_passages + 1))}
    sentence = {
        "type": "object",
        "properties": {
            "text": {"type": "string", "maxLength": MAX_SENTENCE_CHARS},
            "passages": {"type": "array", "items": ids, "maxItems": MAX_IDS_PER_SENTENCE},
        },
        "required": ["text", "passages"],
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {"sentences": {"type": "array", "items": sentence, "minItems": 1, "maxItems": MAX_SENTENCES}},
        "required": ["sentences"],
        "additionalProperties": False,
    }


def _sentence_text(text: str, ids: list[Any]) -> str:
    markers = "".join(f"[{n}]" for n in dict.fromkeys(ids) if isinstance(n, int) and not isinstance(n, bool))
    # A model may still write markers inside the text; those are read like any free-text reply.
    return f"{text.strip()} {markers}".strip()


def structured_to_text(reply: str) -> str | None:
    """The marked text of a structured reply, or None when ``reply`` is not one (then read it as free text).

    A reply cut off by the token limit keeps the sentences that were complete.
    """
    stripped = reply.strip()
    if not stripped.startswith("{"):
        return None
    try:
        data = json.loads(stripped, strict=False)  # a grammar may let a raw newline into a string
    except json.JSONDecodeError:
        pieces = completed_sentences(stripped)
        return " ".join(pieces) if pieces else None
    sentences = data.get("sentences") if isinstance(data, dict) else None
    if not isinstance(sentences, list):
        return None
    out = []
    for item in sentences:
        if isinstance(item, dict) and isinstance(item.get("text"), str) and item["text"].strip():
            ids = item.get("passages")
            out.append(_sentence_text(item["text"], ids if isinstance(ids, list) else []))
    return " ".join(out)


_SENTENCE_OBJECT = re.compile(r'\{\s*"text"\s*:\s*("(?:[^"\\]|\\.)*")\s*,\s*"passages"\s*:\s*\[([^\]]*)\]\s*\}')


def completed_sentences(partial: str) -> list[str]:
    """The marked text of each sentence object already complete in a (possibly unfinished) JSON reply."""
    out = []
    for match in _SENTENCE_OBJECT.finditer(partial):
        try:
            text = json.loads(match.group(1), strict=False)
        except json.JSONDecodeError:
            continue
        ids = [int(n) for n in re.findall(r"\d+", match.group(2))]
        if isinstance(text, str) and text.strip():
            out.append(_sentence_text(text, list(ids)))
    return out
