r"""PDF with PDFium (pypdfium2): the text layer page by page, printed page labels, bookmarks as sections.

The extracted text is PDFium's text of each page, joined by one line break, with every character in the
same position PDFium numbers it: Windows line ends become " \\n" and the hyphen PDFium marks as a line-end
hyphenation (U+FFFE) becomes a soft hyphen (U+00AD), both one character for one. So ``offset - page.start``
is PDFium's own character index on that page, which is what draws a highlight over a cited sentence
(``char_boxes``). Reflow for reading and matching happens later (``rag.ingest.chunking.reflow``).

Page furniture is blanked, also one character for one: running heads, feet and page numbers
(``rag.ingest.readers.layout.furniture``) become spaces, and the line break that joins a page to the next one
becomes a space when the next page opens with a running head. So a sentence that runs on over a page break
reads on as one sentence, with no "36 gnuplot 5.4" inside it. Control characters become spaces, except a
C1 control that opens a line before a space: PDFium's code for a bullet glyph it has no Unicode for
(gnuplot's lists), which becomes "•".

A page with no text layer (a scan) is read with tesseract when it is installed and ``ocr`` is ``"auto"``.

Limits: a PDF of more than ``max_pages`` pages, or whose text passes ``max_text_chars``, is refused. Images of
a page (for OCR, for the chat) are rendered at a scale that keeps their longest side to a fixed number of
pixels, so a page of 14,400 x 14,400 pt (the largest PDF allows) costs what an A4 page does.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from rag.ingest.readers.base import Extracted, PageSpan, ReadOptions, UnreadableFile, check_text_length, section_spans
from rag.ingest.readers.layout import furniture

__all__ = ["OCR_COMMAND", "READER", "PdfReader", "char_boxes", "fitted_scale", "open_pdf", "render_highlighted"]

logger = logging.getLogger(__name__)

OCR_COMMAND = "tesseract"
OCR_DPI = 300
OCR_MAX_PX = 5000  # 300 DPI up to A3; a larger page is read at a lower resolution rather than at gigabytes
HIGHLIGHT = (255, 214, 0, 110)  # translucent yellow over the cited characters
# Control characters PDFium may emit, mapped one for one so offsets stay PDFium's character indexes.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_C1_BULLET = re.compile(r"(?m)^([ \t]*)[\x80-\x9f](?= )")


class PdfReader:
    """``.pdf`` via PDFium."""

    kind = "pdf"
    suffixes: tuple[str, ...] = (".pdf",)

    def read(self, data: bytes, options: ReadOptions) -> Extracted:
        """Extract the text of every page of a PDF from its bytes."""
        document = open_pdf(data)
        try:
            return self._read(document, options)
        finally:
            document.close()

    def _read(self, document: Any, options: ReadOptions) -> Extracted:
        count = len(document)
        if count > options.max_pages:
            raise UnreadableFile(f"{count:,} pages; the limit is {options.max_pages:,} (RAG_MAX_PAGES)")
        texts: list[str] = []
        length = 0
        for i in range(count):
            texts.append(_page_text(document[i]))
            length += len(texts[-1]) + 1
            check_text_length(length, options, f" by page {i + 1} of {count}")
        if not texts:
            raise UnreadableFile("the PDF has no pages")
        blank = [i for i, text in enumerate(texts) if not text.strip()]
        if len(blank) == len(texts) or blank:
            ocr = options.ocr != "off" and shutil.which(OCR_COMMAND) is not None
            if ocr:
                for i in blank:
                    texts[i] = _ocr_page(document[i])
            elif len(blank) == len(texts):
                if options.ocr == "off":
                    raise UnreadableFile("no text layer (a scanned PDF?); OCR is off (ocr = off)")
                raise UnreadableFile("no text layer (a scanned PDF?); install tesseract-ocr to read it")
            else:
                logger.info("%d page(s) have no text layer; install tesseract-ocr to read them", len(blank))
        labels = [document.get_page_label(i) or None for i in range(len(texts))]
        edges = furniture(texts, labels)
        pages: list[PageSpan] = []
        parts: list[str] = []
        offset = 0
        for i, text in enumerate(texts):
            head_end, foot_start = edges[i]
            blanked = " " * head_end + text[head_end:foot_start] + " " * (len(text) - foot_start)
            if i:
                # A page that opens with a running head continues the line the previous page ended on.
                parts.append(" " if head_end else "\n")
            parts.append(blanked)
            pages.append(PageSpan(offset, offset + len(text), i + 1, labels[i]))
            offset += len(text) + 1
        text = "".join(parts)
        check_text_length(len(text), options)  # OCR's text counts too
        if not text.strip():
            raise UnreadableFile("no text on any page, even with OCR")
        return Extracted(text, self.kind, tuple(pages), section_spans(text, _bookmarks(document, texts, pages)))


def open_pdf(data: bytes | str | Path) -> Any:
    """A ``pypdfium2.PdfDocument``; ``UnreadableFile`` saying why when PDFium cannot open it."""
    import pypdfium2

    try:
        return pypdfium2.PdfDocument(data)
    except pypdfium2.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise UnreadableFile("encrypted PDF (it needs a password to open)") from None
        raise UnreadableFile(f"corrupt or truncated PDF ({exc})") from None


def _page_text(page: Any) -> str:
    textpage = page.get_textpage()
    try:
        text = str(textpage.get_text_range())
    finally:
        textpage.close()
    text = text.replace("\r\n", " \n").replace("\r", "\n").replace("\ufffe", "\u00ad").replace("\x02", "\u00ad")
    return _CONTROL.sub(" ", _C1_BULLET.sub(r"\1•", text))


def _ocr_page(page: Any) -> str:
    """The text tesseract reads on a rendering of ``page`` (empty when it reads none)."""
    image = page.render(scale=fitted_scale(page, OCR_DPI / 72, OCR_MAX_PX)).to_pil()
    with tempfile.TemporaryDirectory(prefix="rag-ocr-") as folder:
        path = Path(folder) / "page.png"
        image.save(path)
        try:
            result = subprocess.run(
                [OCR_COMMAND, str(path), "stdout"], capture_output=True, text=True, timeout=120, check=True
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise UnreadableFile(f"OCR with tesseract failed: {exc}") from None
    return _CONTROL.sub(" ", result.stdout.replace("\f", "\n")).rstrip()


def _bookmarks(document: Any, texts: list[str], pages: list[PageSpan]) -> list[tuple[int, int, str]]:
    """The PDF's outline as headings ``(offset, level, title)``: at the title on its page, else the page's start."""
    headings: list[tuple[int, int, str]] = []
    for bookmark in document.get_toc():
        destination = bookmark.get_dest()
        index = destination.get_index() if destination is not None else None
        title = " ".join(str(bookmark.get_title() or "").split())
        if index is None or not 0 <= index < len(pages) or not title:
            continue
        found = _find_loosely(texts[index], title)
        headings.append((pages[index].start + max(found, 0), int(bookmark.level) + 1, title))
    return sorted(headings, key=lambda heading: heading[0])


def _find_loosely(text: str, title: str) -> int:
    """Where ``title`` starts in ``text``, whatever whitespace separates its words; -1 when absent."""
    pattern = r"\s+".join(re.escape(word) for word in title.split())
    match = re.search(pattern, text)
    return match.start() if match else -1


def fitted_scale(page: Any, scale: float, max_px: int) -> float:
    """``scale`` (pixels per point), lowered so that the page's longest side comes to at most ``max_px`` pixels."""
    longest = max(float(page.get_width()), float(page.get_height()), 1.0)
    return min(scale, max_px / longest)


def render_highlighted(
    path: Path | str, number: int, ranges: list[tuple[int, int]], *, scale: float, max_px: int
) -> bytes:
    """Page ``number`` (1-based) of the PDF at ``path`` as a PNG, PDFium characters ``ranges`` highlighted.

    Rendered at ``scale`` pixels per point, or less: the longest side is at most ``max_px`` pixels. Runs in
    an extraction worker (``rag.ingest.readers.isolation.render_page_png``), like every parse of a document.
    """
    import io

    from PIL import Image, ImageDraw

    document = open_pdf(str(path))
    try:
        if not 1 <= number <= len(document):
            raise UnreadableFile(f"the PDF has no page {number}")
        page = document[number - 1]
        scale = fitted_scale(page, scale, max_px)
        image = page.render(scale=scale).to_pil().convert("RGBA")
        height = float(page.get_height())
        overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
        draw = ImageDraw.Draw(overlay)
        for start, end in ranges:
            for left, bottom, right, top in _boxes(page, start, end):
                draw.rectangle(
                    (left * scale, (height - top) * scale, right * scale, (height - bottom) * scale), fill=HIGHLIGHT
                )
        out = io.BytesIO()
        Image.alpha_composite(image, overlay).convert("RGB").save(out, format="PNG", optimize=True)
        return out.getvalue()
    finally:
        document.close()


def _boxes(page: Any, start: int, end: int) -> list[tuple[float, float, float, float]]:
    textpage = page.get_textpage()
    try:
        count = textpage.count_chars()
        boxes = []
        for index in range(max(start, 0), min(end, count)):
            left, bottom, right, top = textpage.get_charbox(index, loose=True)  # the line's height
            if right > left and top > bottom:
                boxes.append((float(left), float(bottom), float(right), float(top)))
        return boxes
    finally:
        textpage.close()


def char_boxes(
    path: Path | str, number: int, start: int, end: int
) -> tuple[tuple[float, float], list[tuple[float, float, float, float]]]:
    """The page size and the boxes of characters ``start:end`` (PDFium indexes) of page ``number`` (1-based).

    Boxes are ``(left, bottom, right, top)`` in PDF points, origin at the bottom left; characters without a
    box (generated spaces and line breaks) are left out.
    """
    document = open_pdf(str(path))
    try:
        page = document[number - 1]
        return (float(page.get_width()), float(page.get_height())), _boxes(page, start, end)
    finally:
        document.close()


READER = PdfReader()
