"""Word files (``.docx``) with python-docx: paragraphs and tables in document order, headings as sections.

Paragraphs are separated by blank lines; a table becomes one line per row, its cells joined by " | ", so a
row reads as one sentence. Headings are the paragraphs styled "Title" or "Heading N".
"""

from __future__ import annotations

import io
from typing import Any

from rag.ingest.readers.base import Extracted, ReadOptions, UnreadableFile, section_spans

__all__ = ["READER", "DocxReader"]


class DocxReader:
    """``.docx`` via python-docx."""

    kind = "docx"
    suffixes: tuple[str, ...] = (".docx",)

    def read(self, data: bytes, options: ReadOptions) -> Extracted:
        """Extract paragraphs and tables, in order, from a ``.docx`` file's bytes."""
        import docx
        from docx.table import Table
        from docx.text.paragraph import Paragraph

        try:
            document = docx.Document(io.BytesIO(data))
        except Exception as exc:  # zipfile.BadZipFile, python-docx's PackageNotFoundError, KeyError, lxml errors
            raise UnreadableFile(f"corrupt or truncated Word file ({type(exc).__name__}: {exc})") from None
        blocks: list[str] = []
        headings: list[tuple[int, int, str]] = []
        offset = 0
        body: Any = document.element.body
        for element in body.iterchildren():
            tag = element.tag.rsplit("}", 1)[-1]
            if tag == "p":
                paragraph = Paragraph(element, document)
                block = paragraph.text.strip()
                level = _heading_level(paragraph.style.name if paragraph.style is not None else "")
                if block and level:
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
        text = "\n\n".join(blocks)
        if not text.strip():
            raise UnreadableFile("the Word file holds no text")
        return Extracted(text, self.kind, sections=section_spans(text, headings))


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
