"""Plain text: ``.txt``, ``.md``, ``.rst`` and files without an extension, decoded as UTF-8.

The text is kept exactly as in the file (only a byte-order mark is dropped), so offsets point into the file
itself. Markdown (``# Title``) and reStructuredText (a title underlined with ``===``) headings become sections.
"""

from __future__ import annotations

import re

from rag.ingest.readers.base import Extracted, ReadOptions, UnreadableFile, section_spans

__all__ = ["READER", "TextReader", "code_fences", "headings"]

_ATX = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$", re.MULTILINE)
# A reStructuredText title: a line of text, then a line of one punctuation character at least as long.
_RST = re.compile(r"^([^\s].*)\n([=\-~^\"'`#*+:.])\2+[ \t]*$", re.MULTILINE)


class TextReader:
    """UTF-8 text; Markdown and reStructuredText headings as sections."""

    kind = "text"
    suffixes: tuple[str, ...] = (".txt", ".md", ".markdown", ".rst")

    def read(self, data: bytes, options: ReadOptions) -> Extracted:
        """Decode ``data`` as UTF-8 text."""
        if b"\x00" in data[:8192]:
            raise UnreadableFile("binary (it contains NUL bytes), not text")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise UnreadableFile(
                f"not UTF-8 text (tried UTF-8: byte 0x{data[exc.start]:02x} at offset {exc.start} is invalid); "
                "save it as UTF-8"
            ) from None
        # A BOM is an encoding marker, not content; dropping it keeps offsets relative to the visible text.
        text = text.removeprefix("\ufeff")
        return Extracted(text, self.kind, sections=section_spans(text, headings(text)))


def headings(text: str) -> list[tuple[int, int, str]]:
    """Markdown and reStructuredText headings of ``text``: ``(offset, level, title)`` in order.

    reStructuredText has no fixed levels: each underline character gets the next level when first seen.
    Lines inside fenced code blocks (``code_fences``) are not headings: a ``# comment`` in a code example is
    code. A trailing pilcrow (the "¶" permalink of converted web pages) is not part of a title.
    """
    fenced = code_fences(text)

    def in_code(offset: int) -> bool:
        return any(start <= offset < end for start, end in fenced)

    found = [(m.start(), len(m.group(1)), _title(m.group(2))) for m in _ATX.finditer(text) if not in_code(m.start())]
    levels: dict[str, int] = {}
    for match in _RST.finditer(text):
        title = _title(match.group(1))
        if in_code(match.start()) or len(match.group(0).split("\n")[1].rstrip()) < len(title):
            continue
        level = levels.setdefault(match.group(2), len(levels) + 1)
        found.append((match.start(), level, title))
    return sorted(found)


_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})", re.MULTILINE)


def code_fences(text: str) -> list[tuple[int, int]]:
    """The ``(start, end)`` offsets of the fenced code blocks of Markdown ``text``.

    A fence is three or more backticks or tildes (indented at most three spaces); the block runs to a fence of
    the same character at least as long, or to the end of the text when none closes it (CommonMark's rule).
    """
    blocks: list[tuple[int, int]] = []
    opening: re.Match[str] | None = None
    for fence in _FENCE.finditer(text):
        if opening is None:
            opening = fence
        elif fence.group(1)[0] == opening.group(1)[0] and len(fence.group(1)) >= len(opening.group(1)):
            blocks.append((opening.start(), fence.end()))
            opening = None
    if opening is not None:
        blocks.append((opening.start(), len(text)))
    return blocks


def _title(raw: str) -> str:
    return raw.strip().rstrip("¶").strip()


READER = TextReader()
