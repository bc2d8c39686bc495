"""Page furniture of paged documents: running heads and feet, page numbers, contents and index pages.

A manual's text layer repeats, on every page, a running head ("36 gnuplot 5.4", "Chapter 5: Programming
85") and often a page number on a line of its own. Left in, they land inside the sentence that runs across
the page break and in every chunk's embedding. ``furniture`` finds them by what makes them furniture: they
sit on a page's first or last lines, and the same line (digits aside) recurs at that place on other pages,
or the line is little more than the page's own number, or a title ending in it.

Contents and index pages are lists of titles and page numbers ("Escape sequences . . . . 35", "abs, 37"):
dense with exact names, so keyword search loves them, yet they answer nothing. ``is_navigation_page``
recognises them by the share of their lines that end in a page reference.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

__all__ = ["furniture", "is_navigation_page"]

# How many lines at each end of a page may be furniture, and how often a line must recur there.
_EDGE_LINES = 2
_MIN_REPEATS = 3
_MAX_FURNITURE_CHARS = 80
_LINE = re.compile(r"[^\n]*")
_ROMAN = re.compile(r"(?=[mdclxvi])m{0,3}(cm|cd|d?c{0,3})(xc|xl|l?x{0,3})(ix|iv|v?i{0,3})", re.IGNORECASE)
# A recurring edge line is a running head when it carries a number (its page number) or recurs on this share
# of the pages; a short code line that happens to open three pages ("}") is not.
_COMMON_SHARE = 0.2
# A line of a contents or index page: a title with dot leaders and a page number, or a short entry that
# ends in page numbers ("clip, 24, 81, 137", "Canvas size 32").
_DOT_LEADER = re.compile(r"(?:\.\s*){3,}\d{1,4}\s*$")
_ENTRY = re.compile(r"^\s*\D[^\n]{0,80}?(?:,\s*|\s+)\d{1,4}(?:\s*[,–-]\s*\d{1,4})*\s*$")
_NAVIGATION_SHARE = 0.6
_MIN_NAVIGATION_LINES = 4


def _shape(line: str) -> str:
    """A line without the page number at either end, spacing folded: a running head has one shape on all pages.

    ``#`` marks where a number was, so a head that carries its page number is told from a recurring line.
    """
    folded = " ".join(line.lower().split())
    bare = re.sub(r"^\d+\s+|\s+\d+$", "", folded)
    return f"#{bare}" if bare != folded else bare


def _lines(text: str) -> list[tuple[int, int]]:
    """Spans of the non-blank lines of ``text``."""
    return [(m.start(), m.end()) for m in _LINE.finditer(text) if text[m.start() : m.end()].strip()]


def _is_page_number(line: str, label: str | None) -> bool:
    """True for a line that is only a page number (arabic or roman), or the page's own label."""
    bare = line.strip()
    return bool(re.fullmatch(r"\d{1,4}", bare) or _ROMAN.fullmatch(bare) or (label and bare == label))


def _ends_in_own_number(line: str, number: str) -> bool:
    """True for a short titled line that ends in its page's number: "Chapter 10: Interactive mode 172".

    Only the end counts: a chapter's first page may open with its title, "1 Description", on page 1.
    """
    words = line.split()
    return len(words) > 1 and words[-1] == number and not words[-2].isdigit()


def furniture(pages: Sequence[str], labels: Sequence[str | None] = ()) -> list[tuple[int, int]]:
    """For each page, ``(head_end, foot_start)``: ``page[:head_end]`` and ``page[foot_start:]`` are furniture.

    ``head_end`` is 0 when the page has no running head and ``foot_start`` is ``len(page)`` when it has no
    running foot. A head ends just before the line break that follows it; a foot starts at the line break
    before it, so blanking both leaves the body's lines whole.
    """
    edges: list[tuple[list[tuple[int, int]], list[tuple[int, int]]]] = []
    shapes: Counter[str] = Counter()
    for text in pages:
        lines = _lines(text)
        head, foot = lines[:_EDGE_LINES], lines[-_EDGE_LINES:] if len(lines) > _EDGE_LINES else []
        edges.append((head, foot))
        for start, end in {*head, *foot}:
            shapes[_shape(text[start:end])] += 1
    found: list[tuple[int, int]] = []
    for number, (text, (head, foot)) in enumerate(zip(pages, edges, strict=True), start=1):
        label = labels[number - 1] if number - 1 < len(labels) else None

        def is_furniture(
            span: tuple[int, int], text: str = text, label: str | None = label, number: int = number
        ) -> bool:
            line = text[span[0] : span[1]]
            if len(line.strip()) > _MAX_FURNITURE_CHARS:
                return False
            shape = _shape(line)
            repeats = shapes[shape]
            numbered = shape.startswith("#") and len(shape) > 1
            common = repeats >= _MIN_REPEATS and (numbered or repeats >= _COMMON_SHARE * len(pages))
            # A head that names a short chapter ends in the page's label but recurs on too few pages.
            return _is_page_number(line, label) or common or _ends_in_own_number(line, label or str(number))

        head_end = 0
        for span in head:
            if not is_furniture(span):
                break
            head_end = span[1]
        foot_start = len(text)
        for span in reversed(foot):
            if span[1] <= head_end or not is_furniture(span):
                break
            foot_start = text.rfind("\n", 0, span[0]) if "\n" in text[: span[0]] else span[0]
        found.append((head_end, foot_start))
    return found


def is_navigation_page(text: str) -> bool:
    """True for a contents or index page: most of its lines are an entry and a page reference."""
    lines = [text[s:e] for s, e in _lines(text)]
    if len(lines) < _MIN_NAVIGATION_LINES:
        return False
    entries = sum(1 for line in lines if _DOT_LEADER.search(line) or _ENTRY.match(line))
    return entries >= _NAVIGATION_SHARE * len(lines)
