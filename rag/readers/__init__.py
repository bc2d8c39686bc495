"""Turning a file's bytes into text, one reader per format, behind one small protocol.

A reader takes the bytes of one file and returns an ``Extracted``: the text (what is chunked, embedded,
stored with the index and cited), plus *spans* that say which page and which section each stretch of that
text came from. Everything after this point (chunking, embedding, the store) is format-blind: it sees text
and spans, never a PDF.

A file that cannot be read raises ``UnreadableFile`` with a reason a user can act on ("encrypted PDF",
"no text layer; install tesseract-ocr to read it", "truncated or corrupt PDF", ...); ``rag.documents`` turns
that into a ``DocumentError`` naming the file, and indexing lists it among the skipped files.

Formats: ``.pdf`` (``rag.readers.pdf``, PDFium), ``.docx`` (``rag.readers.docx``, python-docx), ``.html``/``.htm``
(``rag.readers.html``, selectolax), and text: ``.txt``, ``.md``, ``.rst`` and files without an extension that
decode as UTF-8 (``rag.readers.text``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath
from typing import Protocol

__all__ = [
    "Extracted",
    "PageSpan",
    "ReadOptions",
    "Reader",
    "SectionSpan",
    "UnreadableFile",
    "reader_for",
    "supported_suffixes",
]


@dataclass(frozen=True)
class PageSpan:
    """The stretch ``text[start:end]`` that came from one page: ``number`` is 1-based and physical.

    ``label`` is the printed page label the PDF defines for that page ("iv", "12"), or None.
    """

    start: int
    end: int
    number: int
    label: str | None = None


@dataclass(frozen=True)
class SectionSpan:
    """The stretch ``text[start:end]`` under one heading; ``title`` is the heading path ("2 Files > 2.4 Globs")."""

    start: int
    end: int
    title: str


@dataclass(frozen=True)
class Extracted:
    """What a reader got out of a file.

    Attributes:
        text: The extracted text; every offset in the index points into it.
        kind: The format: ``"pdf"``, ``"docx"``, ``"html"`` or ``"text"``.
        pages: Page spans in order, covering the text (empty for formats without pages).
        sections: Section spans in order (empty when the file has no headings).
    """

    text: str
    kind: str
    pages: tuple[PageSpan, ...] = ()
    sections: tuple[SectionSpan, ...] = ()


@dataclass(frozen=True)
class ReadOptions:
    """How readers behave: ``ocr`` is ``"auto"`` (OCR scanned PDFs when tesseract is installed) or ``"off"``."""

    ocr: str = "auto"


class UnreadableFile(Exception):
    """A file a reader cannot turn into text; the message is the reason, without the file's name."""


class Reader(Protocol):
    """One format: the file name suffixes it reads, and how."""

    kind: str
    suffixes: tuple[str, ...]

    def read(self, data: bytes, options: ReadOptions) -> Extracted:
        """Extract the text of a file from its bytes.

        Raises:
            UnreadableFile: The file cannot be read; the message says why.
        """
        ...


def _readers() -> list[Reader]:
    # Imported here, not at the top: a package's modules import this one for the dataclasses above.
    from rag.readers import docx, html, pdf, text

    return [text.READER, pdf.READER, docx.READER, html.READER]


def supported_suffixes() -> tuple[str, ...]:
    """Every file name suffix some reader handles (files without a suffix are read as text too)."""
    return tuple(suffix for reader in _readers() for suffix in reader.suffixes)


def reader_for(name: str | PurePath) -> Reader | None:
    """The reader for a file name: by suffix; text for a name without one; None for an unsupported type."""
    suffix = PurePath(name).suffix.lower()
    for reader in _readers():
        if suffix in reader.suffixes or (not suffix and reader.kind == "text"):
            return reader
    return None


def section_spans(text: str, headings: list[tuple[int, int, str]]) -> tuple[SectionSpan, ...]:
    """Section spans from headings ``(offset, level, title)`` in order: each runs to the next heading.

    The title of a span is its heading path: the titles of the enclosing headings (lower levels) and its own,
    joined with " > ".
    """
    spans: list[SectionSpan] = []
    path: list[tuple[int, str]] = []
    for i, (offset, level, title) in enumerate(headings):
        while path and path[-1][0] >= level:
            path.pop()
        path.append((level, title))
        end = headings[i + 1][0] if i + 1 < len(headings) else len(text)
        if end > offset:
            spans.append(SectionSpan(offset, end, " > ".join(t for _, t in path)))
    return tuple(spans)
