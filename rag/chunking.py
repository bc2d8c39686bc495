"""Splitting a document into sentences and overlapping, sentence-aligned chunks with exact offsets.

Every span is a pair of character offsets into ``Document.text``: ``document.text[chunk.start:chunk.end] ==
chunk.text`` always holds, so a citation can be located, highlighted and verified in the original file.
Sentences are the unit: chunks never cut one in half (except a single sentence longer than a chunk), and
the extractive answerer quotes whole sentences.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from rag.documents import Document

__all__ = ["Chunk", "Sentence", "chunk_document", "split_sentences"]


class Sentence(NamedTuple):
    """A sentence of a document, as character offsets into its text.

    A named tuple rather than a dataclass: an index holds millions, and a tuple is made several times faster.
    """

    start: int
    end: int


@dataclass(frozen=True)
class Chunk:
    """A passage of a document: the unit that is embedded, retrieved and cited.

    Attributes:
        id: Stable identifier: the same source, offsets and text always give the same id.
        source: The document's name.
        start: Offset of the first character in the document's text.
        end: Offset one past the last character.
        text: ``document.text[start:end]``.
        sentences: The sentences this chunk holds, as offsets into the document's text.
    """

    id: str
    source: str
    start: int
    end: int
    text: str
    sentences: tuple[Sentence, ...]

    def sentence_text(self, sentence: Sentence) -> str:
        """Text of one of this chunk's sentences."""
        return self.text[sentence.start - self.start : sentence.end - self.start]


# A sentence ends at . ! or ? (plus closing quotes/brackets) followed by whitespace and a capital letter,
# digit or opening quote. Lower-case continuations ("on its A. service") are not boundaries.
_BOUNDARY = re.compile(r"""[.!?]+["'”’)\]]*\s+(?=["'“‘(\[]?[A-Z0-9])""")
# Abbreviations whose period does not end a sentence.
_ABBREVIATIONS = frozenset(
    """mr mrs ms dr prof sr jr st vs inc ltd co corp no fig e.g i.e u.s u.k jan feb mar apr jun jul aug sep
    sept oct nov dec""".split()
)
_BULLET = re.compile(r"[-*•–]\s+")
_MIN_SENTENCE_CHARS = 2


def split_sentences(text: str, max_chars: int = 800) -> list[Sentence]:
    """Find the sentences of ``text``: line breaks always end one; so do ., ! and ? before a new sentence.

    Leading bullet markers and surrounding whitespace are left out of the spans. A sentence longer than
    ``max_chars`` is cut at word boundaries into pieces of at most ``max_chars``.
    """
    sentences: list[Sentence] = []
    for line in re.finditer(r"[^\n]+", text):
        line_start = line.start()
        piece_start = 0
        line_text = line.group()
        for boundary in _BOUNDARY.finditer(line_text):
            if _ends_with_abbreviation(line_text[piece_start : boundary.start() + 1]):
                continue
            _add_span(sentences, text, line_start + piece_start, line_start + boundary.end(), max_chars)
            piece_start = boundary.end()
        _add_span(sentences, text, line_start + piece_start, line.end(), max_chars)
    return sentences


def _ends_with_abbreviation(piece: str) -> bool:
    words = piece.rstrip(".!?\"'”’)]").split()
    return bool(words) and words[-1].lower().rstrip(".") in _ABBREVIATIONS and piece.rstrip().endswith(".")


def _add_span(out: list[Sentence], text: str, start: int, end: int, max_chars: int) -> None:
    """Trim whitespace and bullets from ``text[start:end]`` and append it, cut to ``max_chars`` pieces."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    bullet = _BULLET.match(text, start, end)
    if bullet:
        start = bullet.end()
    while end - start > max_chars:
        cut = text.rfind(" ", start + max_chars // 2, start + max_chars)
        cut = cut if cut > start else start + max_chars
        _add_span(out, text, start, cut, max_chars)
        start = cut
        while start < end and text[start].isspace():
            start += 1
    if end - start >= _MIN_SENTENCE_CHARS:
        out.append(Sentence(start, end))


def chunk_document(
    document: Document, chunk_size: int = 800, chunk_overlap: int = 200
) -> tuple[list[Sentence], list[Chunk]]:
    """Split ``document`` into sentences, then group consecutive sentences into chunks.

    A chunk grows sentence by sentence while it stays within ``chunk_size`` characters. The next chunk
    starts with as many trailing sentences of the previous one as fit in ``chunk_overlap`` characters, so a
    fact near a boundary is whole in at least one chunk.

    Returns:
        The document's sentences and its chunks, in reading order.
    """
    sentences = split_sentences(document.text, max_chars=chunk_size)
    chunks: list[Chunk] = []
    first = 0
    while first < len(sentences):
        last = first
        while last + 1 < len(sentences) and sentences[last + 1].end - sentences[first].start <= chunk_size:
            last += 1
        chunks.append(_make_chunk(document, sentences, first, last))
        if last + 1 >= len(sentences):
            break
        # Step back over trailing sentences that fit in the overlap, but always move forward by one.
        next_first = last + 1
        while next_first - 1 > first and sentences[last].end - sentences[next_first - 1].start <= chunk_overlap:
            next_first -= 1
        first = next_first
    return sentences, chunks


def _make_chunk(document: Document, sentences: Sequence[Sentence], first: int, last: int) -> Chunk:
    start, end = sentences[first].start, sentences[last].end
    text = document.text[start:end]
    digest = hashlib.sha256(f"{document.source}\0{start}\0{end}\0{text}".encode()).hexdigest()[:16]
    return Chunk(
        id=digest,
        source=document.source,
        start=start,
        end=end,
        text=text,
        sentences=tuple(sentences[first : last + 1]),
    )
