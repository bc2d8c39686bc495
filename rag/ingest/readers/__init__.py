"""Turning a file's bytes into text, one reader per format, behind one small protocol.

A reader takes the bytes of one file and returns an ``Extracted``: the text (what is chunked, embedded,
stored with the index and cited), plus *spans* that say which page and which section each stretch of that
text came from. Everything after this point (chunking, embedding, the store) is format-blind: it sees text
and spans, never a PDF.

A file that cannot be read raises ``UnreadableFile`` with a reason a user can act on ("encrypted PDF",
"no text layer; install tesseract-ocr to read it", "truncated or corrupt PDF", ...); ``rag.ingest.documents`` turns
that into a ``DocumentError`` naming the file, and indexing lists it among the skipped files.

Formats: ``.pdf`` (``rag.ingest.readers.pdf``, PDFium), ``.docx`` (``rag.ingest.readers.docx``, python-docx),
``.html``/``.htm`` (``rag.ingest.readers.html``, selectolax), and text: ``.txt``, ``.md``, ``.rst`` and files
without an extension that decode as UTF-8 (``rag.ingest.readers.text``). What they share (the protocol, the
``Extracted`` text and its spans) is in ``rag.ingest.readers.base``; this module is the registry.
"""

from __future__ import annotations

from pathlib import PurePath

from rag.ingest.readers import docx, html, pdf, text
from rag.ingest.readers.base import Reader

__all__ = ["formats_text", "reader_for", "supported_suffixes"]


def _readers() -> list[Reader]:
    return [text.READER, pdf.READER, docx.READER, html.READER]


def supported_suffixes() -> tuple[str, ...]:
    """Every file name suffix some reader handles (files without a suffix are read as text too)."""
    return tuple(suffix for reader in _readers() for suffix in reader.suffixes)


_FORMAT_NAMES = {"pdf": "PDF", "docx": "Word", "html": "HTML", "text": "text"}


def formats_text() -> str:
    """The formats read, for help texts: ``PDF (.pdf), Word (.docx), HTML (.html, .htm), text (.txt, ...)``.

    Built from the registry, so ``rag index --help`` and the chat's upload label cannot drift from it.
    """
    readers = sorted(_readers(), key=lambda r: list(_FORMAT_NAMES).index(r.kind) if r.kind in _FORMAT_NAMES else 99)
    parts = []
    for reader in readers:
        suffixes = ", ".join(reader.suffixes) + (", or no extension" if reader.kind == "text" else "")
        parts.append(f"{_FORMAT_NAMES.get(reader.kind, reader.kind)} ({suffixes})")
    return ", ".join(parts)


def reader_for(name: str | PurePath) -> Reader | None:
    """The reader for a file name: by suffix; text for a name without one; None for an unsupported type."""
    suffix = PurePath(name).suffix.lower()
    for reader in _readers():
        if suffix in reader.suffixes or (not suffix and reader.kind == "text"):
            return reader
    return None
