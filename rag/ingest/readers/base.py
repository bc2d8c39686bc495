"""What every reader shares: the ``Reader`` protocol, the ``Extracted`` text with its page and section spans.

A reader module (``pdf``, ``docx``, ``html``, ``text``) imports this one, never the package, so that the
package's registry (``rag.ingest.readers``) can import the readers without an import circle.

Every file is untrusted input. ``ReadOptions`` carries the limits of the work one file may cost: the readers
check the caps (pages, text length, unpacked size, element count) before or while parsing, and
``rag.ingest.readers.isolation`` runs the PDF, Word and HTML readers in worker processes with a time and a
memory limit. A file over any limit raises ``UnreadableFile`` naming the limit and the variable that sets it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from rag.config import ReadOptions

__all__ = [
    "READER_VERSION",
    "Extracted",
    "PageSpan",
    "ReadOptions",
    "Reader",
    "SectionSpan",
    "UnreadableFile",
    "check_text_length",
    "heading_titles",
    "innermost_heading",
    "section_spans",
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


def check_text_length(length: int, options: ReadOptions, where: str = "") -> None:
    """Raise ``UnreadableFile`` when ``length`` characters of text (so far: ``where``) pass the limit."""
    if length > options.max_text_chars:
        limit = options.max_text_chars
        raise UnreadableFile(
            f"{length:,} characters of text{where}; the limit is {limit:,} characters (RAG_MAX_TEXT_CHARS)"
        )


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
        if text[offset:end].strip():  # a span of blank lines (between two lists of terms) holds nothing
            spans.append(SectionSpan(offset, end, _PATH_SEPARATOR.join(t for _, t in path)))
    return tuple(spans)


_PATH_SEPARATOR = " > "

# Bumped whenever reading a file gives different text, offsets, sections or sentences (``rag.ingest.chunking``
# splits a reader's text into them), so that an index of files read before is read again
# (``rag.indexing.refresh.setting_changes``). 1: a web page's <title> shown in its body before any heading is
# its top section. 2: a page reference "(p. 168)", an abbreviation after a bracket ("(cf. ...") and an initial
# after a name ("John D. Hobby") end no sentence. 3: a PDF's running head that ends in its page's number is
# furniture though it recurs on too few pages (a short chapter's "Chapter 10: Interactive mode 172"). 4: a line
# that ends in a backslash continuation ("$ git log ... \\") goes on with the next line.
READER_VERSION = 4


def innermost_heading(section: str | None) -> str:
    """The last title of a heading path (``section_spans``): "2. Unified system > 2.4. Globs" gives "2.4. Globs"."""
    return (section or "").rsplit(_PATH_SEPARATOR, 1)[-1]


def heading_titles(section: str | None) -> list[str]:
    """Every title of a heading path, outermost first: "2. Unified system > 2.4. Globs" gives both."""
    return section.split(_PATH_SEPARATOR) if section else []
