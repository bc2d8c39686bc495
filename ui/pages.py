"""A PDF citation's page, rendered with the cited sentences' characters highlighted.

The page is drawn by PDFium (the library that extracted its text), and the boxes PDFium gives for each
character of the cited sentences are painted over it in translucent yellow. Citation offsets point into the
extracted text; the stored page spans turn them into PDFium's character indexes on the page (the PDF reader
keeps the two one for one). The image is embedded in the evidence panel as a PNG ``data:`` URL inside a
``<details>`` element, so the user opens it with a click and nothing else needs serving.

A page is rendered only when an answer cites it, in an extraction worker (``rag.ingest.readers.isolation``: a memory
and a time limit), at ``PAGE_SCALE`` or less: its longest side is at most ``page_image_max_px`` pixels, so a
page of 14,400 x 14,400 pt is as cheap to show as an A4 page.
"""

from __future__ import annotations

import base64
import html
import logging
from collections.abc import Callable

from rag import Bot
from rag.answer.types import Citation
from rag.errors import RagError
from rag.indexing.texts import stored_pages
from rag.ingest.readers import isolation
from rag.ingest.readers.base import UnreadableFile

__all__ = ["PAGE_SCALE", "page_figure_html", "page_image_png", "page_viewer"]

logger = logging.getLogger(__name__)

PAGE_SCALE = 1.25  # 1.25 px per PDF point: an A4 page is 744 x 1052 px, readable in the panel


def page_image_png(bot: Bot, citation: Citation) -> bytes | None:
    """The page of a PDF citation as a PNG, its cited sentences highlighted; None when it has no page."""
    if citation.page is None or not citation.source.lower().endswith(".pdf"):
        return None
    path = bot.settings.docs_dir / citation.source
    pages = {p.number: p for p in stored_pages(bot.settings, bot.store.manifest, citation.source)}
    page = pages.get(citation.page)
    if page is None:
        return None
    spans = citation.highlights or ((citation.start, citation.end),)
    # Citation offsets -> PDFium's character indexes on the page; sentences on other pages are left out.
    ranges = [
        (max(start, page.start) - page.start, min(end, page.end) - page.start)
        for start, end in spans
        if max(start, page.start) < min(end, page.end)
    ]
    return isolation.render_page_png(
        path,
        citation.page,
        ranges,
        scale=PAGE_SCALE,
        max_px=bot.settings.page_image_max_px,
        memory_bytes=bot.settings.extract_memory_mb * 2**20,
    )


def page_figure_html(bot: Bot, citation: Citation) -> str:
    """A ``<details>`` holding the highlighted page image of a PDF citation; "" when there is none."""
    try:
        png = page_image_png(bot, citation)
    except (RagError, UnreadableFile, OSError) as exc:
        logger.warning("cannot render page %s of %s: %s", citation.page, citation.source, exc)
        return ""
    if png is None:
        return ""
    label = f"page {citation.page}" + (
        f" (printed {citation.page_label})" if citation.page_label and citation.page_label != str(citation.page) else ""
    )
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<details class="rag-page"><summary>Show {html.escape(label)} with the cited text highlighted</summary>'
        f'<img class="rag-page-image" alt="{html.escape(citation.source)}, {html.escape(label)}" '
        f'src="data:image/png;base64,{data}"></details>'
    )


def page_viewer(bot: Bot) -> Callable[[Citation], str]:
    """``page_figure_html`` bound to ``bot``: what ``ui.render.evidence_html`` takes as ``page_view``."""
    return lambda citation: page_figure_html(bot, citation)
