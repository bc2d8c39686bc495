"""Word files (``.docx``) with python-docx: paragraphs and tables in document order, headings as sections.

Paragraphs are separated by blank lines; a table becomes one line per row, its cells joined by " | ", so a
row reads as one sentence. Headings are the paragraphs styled "Title" or "Heading N".

A ``.docx`` is a zip of XML parts, so a small file can unpack to gigabytes or hold millions of elements.
Before python-docx parses anything, the zip's declared sizes are added up (Python's zipfile never inflates a
member past its declared size: a lie fails its CRC check) and the XML parts are streamed through once to count
their elements; over ``max_unpacked_bytes`` or ``max_elements`` the file is refused, saying which.
"""

from __future__ import annotations

import io
import zipfile
from typing import Any

from rag.ingest.readers.base import Extracted, ReadOptions, UnreadableFile, check_text_length, section_spans

__all__ = ["READER", "DocxReader", "check_package"]

_CHUNK = 1 << 20
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_RUN, _HYPERLINK = f"{_W}r", f"{_W}hyperlink"
_RUN_CONTENT = tuple(f"{_W}{name}" for name in ("br", "cr", "noBreakHyphen", "ptab", "t", "tab"))


class DocxReader:
    """``.docx`` via python-docx."""

    kind = "docx"
    suffixes: tuple[str, ...] = (".docx",)

    def read(self, data: bytes, options: ReadOptions) -> Extracted:
        """Extract paragraphs and tables, in order, from a ``.docx`` file's bytes."""
        import docx
        from docx.table import Table

        check_package(data, options)
        try:
            document = docx.Document(io.BytesIO(data))
        except MemoryError:
            raise
        except Exception as exc:  # zipfile.BadZipFile, python-docx's PackageNotFoundError, KeyError, lxml errors
            raise UnreadableFile(f"corrupt or truncated Word file ({type(exc).__name__}: {exc})") from None
        blocks: list[str] = []
        headings: list[tuple[int, int, str]] = []
        offset = 0
        body: Any = document.element.body
        levels = _StyleLevels(document)
        for element in body.iterchildren():
            tag = element.tag.rsplit("}", 1)[-1]
            if tag == "p":
                block = _paragraph_text(element).strip()
                level = levels.of(element.style) if block else 0
                if level:
                    headings.append((offset, level, block))
            elif tag == "tbl":
                table = Table(element, document)
                rows = [" | ".join(_unique_cells(row.cells)) for row in table.rows]
                block = "\n".join(row for row in rows if row.strip(" |"))
            else:
                continue
            if block:
                blocks.append(block)
                offset += len(block) + 2
                check_text_length(offset, options)
        text = "\n\n".join(blocks)
        if not text.strip():
            raise UnreadableFile("the Word file holds no text")
        return Extracted(text, self.kind, sections=section_spans(text, headings))


def check_package(data: bytes, options: ReadOptions) -> None:
    """Refuse a Word file whose parts unpack past ``max_unpacked_bytes`` or hold over ``max_elements`` elements.

    Raises:
        UnreadableFile: It is not a zip, or is over a limit; the message says which, with the numbers.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise UnreadableFile(f"corrupt or truncated Word file ({type(exc).__name__}: {exc})") from None
    with archive:
        members = archive.infolist()
        unpacked = sum(info.file_size for info in members)
        if unpacked > options.max_unpacked_bytes:
            raise UnreadableFile(
                f"unpacks to {unpacked / 2**20:,.0f} MB; the limit is {options.max_unpacked_bytes / 2**20:,.0f} MB "
                "(RAG_MAX_UNPACKED_MB)"
            )
        elements = len(members)
        for info in members:
            if info.filename.lower().endswith((".xml", ".rels")):
                elements += _count_elements(archive, info)
        if elements > options.max_elements:
            raise UnreadableFile(
                f"{elements:,} XML elements (paragraphs, runs, cells...); the limit is {options.max_elements:,} "
                "(RAG_MAX_ELEMENTS)"
            )


def _count_elements(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> int:
    """The start tags in one XML part, streamed (``<`` not opening an end tag, a declaration or a comment)."""
    count = 0
    try:
        with archive.open(info) as member:
            while chunk := member.read(_CHUNK):
                # A tag split between two chunks is miscounted by one at most: a bound, not an exact count.
                count += chunk.count(b"<") - chunk.count(b"</") - chunk.count(b"<?") - chunk.count(b"<!")
    except (zipfile.BadZipFile, NotImplementedError, RuntimeError, EOFError, OSError, ValueError) as exc:
        raise UnreadableFile(f"corrupt or truncated Word file ({type(exc).__name__}: {exc})") from None
    return count


def _paragraph_text(paragraph: Any) -> str:
    """What python-docx's ``Paragraph.text`` gives (runs and hyperlinks' runs; tabs and breaks as characters).

    It walks the children with lxml's tag filter instead of one XPath query per paragraph and per run, which
    cost about 40 microseconds each: seconds for a long document, minutes for a hostile one.
    """
    parts: list[str] = []
    for inline in paragraph.iterchildren(_RUN, _HYPERLINK):
        for run in inline.iterchildren(_RUN) if inline.tag == _HYPERLINK else (inline,):
            parts.extend(str(content) for content in run.iterchildren(*_RUN_CONTENT))  # python-docx's classes
    return "".join(parts)


class _StyleLevels:
    """Heading levels by style id, each style looked up once.

    python-docx's ``paragraph.style`` scans every style of the document for each paragraph without one (the
    default style): 200,000 empty paragraphs took minutes. Here the lookup is done once per style id.
    """

    def __init__(self, document: Any) -> None:
        self._document = document
        self._levels: dict[str | None, int] = {}

    def of(self, style_id: str | None) -> int:
        if style_id not in self._levels:
            from docx.enum.style import WD_STYLE_TYPE

            style = self._document.part.get_style(style_id, WD_STYLE_TYPE.PARAGRAPH)
            self._levels[style_id] = _heading_level(style.name if style is not None else "")
        return self._levels[style_id]


def _heading_level(style: str) -> int:
    if style == "Title":
        return 1
    if style.startswith("Heading "):
        number = style.removeprefix("Heading ").strip()
        return int(number) + 1 if number.isdigit() else 0
    return 0


def _unique_cells(cells: Any) -> list[str]:
    # Merged cells come back once per grid column they span: keep each cell once.
    seen: set[int] = set()
    texts = []
    for cell in cells:
        if id(cell._tc) in seen:
            continue
        seen.add(id(cell._tc))
        texts.append(" ".join(cell.text.split()))
    return texts


READER = DocxReader()
