"""Web pages (``.html``, ``.htm``): the main content only, with trafilatura; headings as sections.

trafilatura drops navigation, scripts, styles, cookie banners and footers, and writes the article as
Markdown, whose ``#`` headings become sections. A page it finds no article in (a short page, a list) falls
back to the visible text of ``<body>`` without ``nav``, ``header``, ``footer``, ``script`` and ``style``.

A page with more than ``max_elements`` tags is refused before it is parsed (counted as ``<`` signs that do not
open an end tag, a comment or a declaration: a bound, cheap on the 10 MB an HTML file may have).
"""

from __future__ import annotations

from rag.ingest.readers.base import Extracted, ReadOptions, UnreadableFile, check_text_length, section_spans
from rag.ingest.readers.text import headings

__all__ = ["READER", "HtmlReader"]


class HtmlReader:
    """HTML via trafilatura (main content), selectolax as the fallback."""

    kind = "html"
    suffixes: tuple[str, ...] = (".html", ".htm", ".xhtml")

    def read(self, data: bytes, options: ReadOptions) -> Extracted:
        """Extract the main content of an HTML page from its bytes."""
        import trafilatura

        tags = data.count(b"<") - data.count(b"</") - data.count(b"<!")
        if tags > options.max_elements:
            raise UnreadableFile(f"{tags:,} HTML tags; the limit is {options.max_elements:,} (RAG_MAX_ELEMENTS)")
        markup = _decode(data)
        text = trafilatura.extract(
            markup,
            output_format="markdown",
            include_tables=True,
            include_comments=False,
            include_images=False,
            include_links=False,
            favor_recall=True,
        )
        if not text or not text.strip():
            text = _visible_text(markup)
        check_text_length(len(text), options)
        if not text.strip():
            raise UnreadableFile("the web page holds no text")
        return Extracted(text, self.kind, sections=section_spans(text, headings(text)))


def _decode(data: bytes) -> str:
    # UTF-8 first (nearly every page today), then Windows-1252 (what browsers assume for old pages), then
    # Latin-1, which decodes any bytes.
    for encoding in ("utf-8", "windows-1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _visible_text(markup: str) -> str:
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(markup)
    for node in tree.css("script, style, nav, header, footer, noscript, template, aside"):
        node.decompose()
    body = tree.body
    if body is None:
        return ""
    lines = [" ".join(line.split()) for line in body.text(separator="\n").splitlines()]
    return "\n\n".join(line for line in lines if line)


READER = HtmlReader()
