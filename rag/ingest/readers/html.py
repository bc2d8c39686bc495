"""Web pages (``.html``, ``.htm``): the page's text as a browser shows it, headings as sections.

The page is parsed with selectolax (lexbor, an HTML5 parser) and its DOM is walked once, writing plain text:

- whitespace is collapsed as a browser collapses it; ``<br>`` is a line break;
- blocks (paragraphs, headings, list items, ...) are separated by a blank line, so every line of the text is
  a whole block and no sentence is cut at the source's line breaks;
- ``<pre>`` blocks (code examples, shell sessions) are kept verbatim, line by line, as blocks of their own;
- a ``<dt>`` term (a function signature, a command-line option) is kept on its own line directly above its
  ``<dd>`` description (one line break, no blank line), so the two stay one block: the answerer reads the
  term as the label of the description's first sentence (``rag.answer.answerers.quoting``);
- table rows are lines, their cells separated by a tab;
- no Markdown: no escapes, emphasis markers or pilcrows (Sphinx's ``¶`` permalinks are left out).

Only the content is kept: scripts, styles, forms, navigation (``<nav>``, ``role="navigation"``, elements
whose class or id says menu, sidebar, footer, breadcrumbs, cookie banner or table of contents), hidden
elements and struck-through text (superseded statements) are left out. When the page marks its main
content (``<main>``, ``role="main"``) only that is read; otherwise blocks made mostly of links (menus, link
lists) are left out too. Headings ``<h1>``-``<h6>`` become sections, and so do ``<dt>`` terms, one level under
the heading they sit in, up to the end of their list: a citation names the entry it quotes
(``os.path > os.path.exists(path)``, ``OPTIONS > -n, --dry-run``).

A page with more than ``max_elements`` tags is refused before it is parsed (counted as ``<`` signs that do not
open an end tag, a comment or a declaration: a bound, cheap on the 10 MB an HTML file may have), and a page
whose text passes ``max_text_chars`` after the walk is refused too. The reader runs in an extraction worker
(``rag.ingest.readers.isolation``) with its time and memory limits, like the PDF and Word readers.
"""

from __future__ import annotations

import re
from typing import Any

from rag.ingest.readers.base import Extracted, ReadOptions, UnreadableFile, check_text_length, section_spans

__all__ = ["READER", "HtmlReader", "html_text"]

# Elements whose content is never text a reader sees (or is boilerplate by its very tag).
_DROP_TAGS = frozenset(
    """script style noscript template head title nav aside form button input select textarea option iframe
    object embed canvas svg audio video map area s strike del dialog""".split()
)
# Page furniture by class or id: menus, sidebars, footers, breadcrumbs, cookie banners, tables of contents.
_BOILERPLATE_TOKENS = frozenset(
    """nav navbar navigation menu mainmenu submenu sidebar sphinxsidebar sidebarwrapper footer breadcrumb
    breadcrumbs cookie cookies consent banner toc skip skiplink share social related searchbox""".split()
)
_BOILERPLATE_ROLES = frozenset({"navigation", "banner", "contentinfo", "complementary", "search"})
# Elements that start and end a block of text (a blank line around them).
_BLOCKS = frozenset(
    """address article blockquote body center details dir div dl fieldset figcaption figure footer h1 h2 h3 h4
    h5 h6 header hgroup hr legend li main menu ol p section summary table ul caption""".split()
)
_HEADINGS = {f"h{n}": n for n in range(1, 7)}
_SPACE = re.compile(r"[ \t\n\r\f\v\u00a0]+")
_PERMALINK = frozenset({"¶", "#", "§", "🔗"})
# A block is navigation when at least this share of its text is link text and it holds a few links.
_LINK_DENSITY = 0.8
_MIN_LINKS = 3


class HtmlReader:
    """HTML via selectolax: the visible text of the page's content, blocks as paragraphs."""

    kind = "html"
    suffixes: tuple[str, ...] = (".html", ".htm", ".xhtml")

    def read(self, data: bytes, options: ReadOptions) -> Extracted:
        """Extract the text of an HTML page from its bytes."""
        tags = data.count(b"<") - data.count(b"</") - data.count(b"<!")
        if tags > options.max_elements:
            raise UnreadableFile(f"{tags:,} HTML tags; the limit is {options.max_elements:,} (RAG_MAX_ELEMENTS)")
        text, headings = html_text(_decode(data))
        check_text_length(len(text), options)
        if not text.strip():
            raise UnreadableFile("the web page holds no text")
        return Extracted(text, self.kind, sections=section_spans(text, headings))


def _decode(data: bytes) -> str:
    # UTF-8 first (nearly every page today), then Windows-1252 (what browsers assume for old pages), then
    # Latin-1, which decodes any bytes.
    for encoding in ("utf-8", "windows-1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def html_text(markup: str) -> tuple[str, list[tuple[int, int, str]]]:
    """The text of the page's content and its headings ``(offset, level, title)``."""
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(markup)
    root = tree.css_first("[role=main]") or tree.css_first("main") or tree.body
    if root is None:
        return "", []
    marked_main = root.tag != "body"
    writer = _Writer()
    _walk(root, writer, marked_main)
    text, headings = writer.result()
    # A page that shows its <title> as a line of its own before any heading (sqlite.org's "fancy_title" <div>)
    # has it as its top section: otherwise that line is in no section, and reads as a sentence.
    title_node = tree.css_first("title")
    title = " ".join((title_node.text() if title_node is not None else "").split())
    shown = re.search(rf"(?m)^{re.escape(title)}$", text) if title else None
    if shown is not None and (not headings or shown.start() < headings[0][0]):
        headings.insert(0, (shown.start(), 0, title))
    return text, headings


def _is_boilerplate(node: Any, marked_main: bool) -> bool:
    """True for an element that is page furniture or hidden rather than content."""
    tag = node.tag
    if tag in _DROP_TAGS:
        return True
    attributes = node.attributes
    if "hidden" in attributes or attributes.get("aria-hidden") == "true":
        return True
    style = (attributes.get("style") or "").replace(" ", "").lower()
    if "display:none" in style or "visibility:hidden" in style:
        return True
    if (attributes.get("role") or "") in _BOILERPLATE_ROLES:
        return True
    if tag in {"header", "footer"} and not marked_main:
        return True
    names = f"{attributes.get('class') or ''} {attributes.get('id') or ''}".lower()
    if names.strip() and _BOILERPLATE_TOKENS.intersection(re.split(r"[^a-z0-9]+", names)):
        return True
    if tag == "a" and " ".join((node.text() or "").split()) in _PERMALINK:
        return True  # Sphinx's and other generators' permalink anchors: "¶", "#"
    return not marked_main and tag in {"ul", "ol", "div", "table", "p", "dl"} and _mostly_links(node)


def _mostly_links(node: Any) -> bool:
    """A block whose text is nearly all link text (a menu, a list of links, a table of contents)."""
    links = node.css("a")
    if len(links) < _MIN_LINKS:
        return False
    total = len("".join((node.text() or "").split()))
    linked = sum(len("".join((a.text() or "").split())) for a in links)
    return total > 0 and linked >= _LINK_DENSITY * total


class _Writer:
    """Accumulates text with the breaks between blocks, collapsing whitespace as a browser does."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.length = 0
        self.pending = 0  # the break owed before the next text: 0 none, 1 space, 2 line break, 3 blank line
        self.headings: list[tuple[int, int, str]] = []
        # Set at a <dd>: its first text follows its term after one line break, even when it is a paragraph.
        self.attach = False

    def _emit(self, text: str) -> None:
        self.parts.append(text)
        self.length += len(text)

    def _flush(self) -> None:
        if self.attach:
            self.pending = min(self.pending, 2)
            self.attach = False
        if self.length and self.pending:
            last = self.parts[-1]
            if self.pending == 3:
                self._emit("\n\n" if not last.endswith("\n") else ("\n" if not last.endswith("\n\n") else ""))
            elif self.pending == 2:
                if not last.endswith("\n"):
                    self._emit("\n")
            elif not last.endswith((" ", "\n")):
                self._emit(" ")
        self.pending = 0

    def brk(self, level: int) -> None:
        """Owe a break of ``level`` (2: line break, 3: blank line) before the next text."""
        self.pending = max(self.pending, level)

    def inline(self, raw: str) -> None:
        """Text of an inline run: whitespace collapsed to single spaces."""
        text = _SPACE.sub(" ", raw)
        if not text:
            return
        if text == " ":
            self.pending = max(self.pending, 1)
            return
        if text.startswith(" "):
            self.pending = max(self.pending, 1)
        self._flush()
        self._emit(text.strip(" "))
        if text.endswith(" "):
            self.pending = 1

    def verbatim(self, raw: str) -> None:
        """A ``<pre>`` block: its lines as they are (trailing spaces and the block's blank ends dropped)."""
        lines = [line.rstrip().replace("\u00a0", " ") for line in raw.replace("\r\n", "\n").split("\n")]
        while lines and not lines[0].strip():
            lines.pop(0)
        while lines and not lines[-1].strip():
            lines.pop()
        if not lines:
            return
        self.brk(3)
        self._flush()
        self._emit("\n".join(lines))
        self.brk(3)

    def result(self) -> tuple[str, list[tuple[int, int, str]]]:
        text = "".join(self.parts)
        stripped = text.rstrip()
        return stripped + ("\n" if stripped else ""), self.headings


def _walk(root: Any, writer: _Writer, marked_main: bool) -> None:
    """Write the text under ``root``: an explicit stack, so deeply nested markup cannot exhaust recursion."""
    # Stack entries: a node to visit, or a callable to run after a node's children (closing a block).
    stack: list[Any] = [root]
    while stack:
        item = stack.pop()
        if callable(item):
            item()
            continue
        node = item
        tag = node.tag
        if tag == "-text":
            writer.inline(node.text_content or "")
            continue
        if tag is None or tag.startswith("-") or (node is not root and _is_boilerplate(node, marked_main)):
            continue
        if tag == "br":
            writer.brk(2)
            continue
        if tag == "pre":
            writer.verbatim(node.text(deep=True) or "")
            continue
        if tag in _HEADINGS:
            _heading(node, writer, _HEADINGS[tag])
            continue
        closing: Any = None
        if tag == "dt":
            # A term starts a block unless it follows another term ("-f" then "--force"): one line each.
            previous = _previous_element(node)
            follows_term = previous is not None and previous.tag == "dt"
            writer.brk(2 if follows_term else 3)
            _term(node, writer, follows_term)
            closing = _closer(writer, 2)
        elif tag == "dd":
            writer.brk(2)
            writer.attach = True
            closing = _closer(writer, 3)
        elif tag == "tr":
            writer.brk(2)
            closing = _closer(writer, 2)
        elif tag in {"td", "th"}:
            if _previous_element(node) is not None:
                writer._flush()
                writer._emit("\t")
        elif tag == "dl":
            writer.brk(3)
            closing = _terms_closer(writer, node)
        elif tag in _BLOCKS:
            writer.brk(3)
            closing = _closer(writer, 3)
        if closing is not None:
            stack.append(closing)
        children = []
        child = node.child
        while child is not None:
            children.append(child)
            child = child.next
        stack.extend(reversed(children))


def _closer(writer: _Writer, level: int) -> Any:
    return lambda: writer.brk(level)


def _previous_element(node: Any) -> Any:
    """The element before ``node`` among its siblings (text and comments skipped), or None."""
    sibling = node.prev
    while sibling is not None and (sibling.tag is None or sibling.tag.startswith("-")):
        sibling = sibling.prev
    return sibling


_TERM_LEVEL = 7  # a term is a section under the page's deepest heading level (h6)
_MAX_TERM_TITLE = 100


def _term(node: Any, writer: _Writer, follows_term: bool) -> None:
    """Record a ``<dt>`` term as a section: what its description is about, up to the next term.

    "Returns False for broken symbolic links." is cited under ``os.path.exists(path)``, not just ``os.path``.

    Terms of nested lists (a class's methods) sit one level under their list's term; consecutive terms
    ("-n", "--dry-run") make one title.
    """
    title = " ".join(word for word in (node.text(deep=True) or "").split() if word not in _PERMALINK).rstrip(" ¶")
    if not title:
        return
    if len(title) > _MAX_TERM_TITLE:
        cut = title.rfind(" ", 0, _MAX_TERM_TITLE)  # at a word boundary when there is one
        title = title[: cut if cut > 0 else _MAX_TERM_TITLE].rstrip(" ,") + " …"
    if follows_term and writer.headings and writer.headings[-1][1] >= _TERM_LEVEL:
        offset, level, first = writer.headings[-1]
        writer.headings[-1] = (offset, level, f"{first}, {title}")
        return
    writer._flush()
    writer.headings.append((writer.length, _term_level(node), title))


def _term_level(node: Any) -> int:
    """The section level of the terms of ``<dl>`` ``node`` (or of the ``<dt>`` ``node``'s list)."""
    depth, parent = 0, node if node.tag == "dl" else node.parent
    while parent is not None:
        depth += parent.tag == "dl"
        parent = parent.parent
    return _TERM_LEVEL + max(depth - 1, 0)


def _terms_closer(writer: _Writer, node: Any) -> Any:
    """What closes a ``<dl>``: a blank line, and the section that held the list goes on after it.

    Without it, the text after a list (a code example, the next paragraph) would be filed under its last term.
    """
    level = _term_level(node)

    def close() -> None:
        writer.brk(3)
        outer = next((h for h in reversed(writer.headings) if h[1] < level), None)
        if outer is not None and writer.headings[-1][1] >= level:
            writer.headings.append((writer.length, outer[1], outer[2]))

    return close


def _heading(node: Any, writer: _Writer, level: int) -> None:
    """A heading: its text as a block of its own, recorded as a section heading (permalinks left out)."""
    for anchor in node.css("a"):
        if " ".join((anchor.text() or "").split()) in _PERMALINK:
            anchor.decompose()
    title = " ".join((node.text(deep=True) or "").split()).strip()
    if not title:
        return
    writer.brk(3)
    writer._flush()
    writer.headings.append((writer.length, level, title))
    writer._emit(title)
    writer.brk(3)


READER = HtmlReader()
