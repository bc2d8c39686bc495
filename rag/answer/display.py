r"""What a person reads: an answer's or a passage's text as prose and code, with no Markdown markup left.

Documents are often Markdown (or were converted to it), so an answer that quotes them, and the passages it
cites, carry ``\_`` escapes, ``**emphasis**`` markers, code fences, and the hard line breaks of the source.
``read`` turns such text into blocks: prose with its line breaks joined (reflowed), list items one per
line, and code blocks (fenced, indented by four spaces, or ``>>>`` sessions) kept line for line. Inside prose,
backslash escapes are undone, emphasis markers dropped, and inline code kept as code. Link and image syntax
stays as text: where a link points is for the reader to see (and the chat never fetches or follows it).

Every door renders the same blocks: ``plain_text`` for ``--json``, exports, the API and the terminal, and the
web chat's HTML (``ui.render``), which escapes every run itself. Nothing here is HTML, and the stored text and
its offsets are never changed: this is display only.

``read`` keeps each character's offset in the text, so the cited sentences (``marks``) are marked in the
reflowed passage exactly where they were in the source.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = ["Block", "Run", "plain_text", "read"]

RunKind = Literal["text", "code", "cite"]
BlockKind = Literal["prose", "item", "code"]


@dataclass(frozen=True)
class Run:
    """A stretch of text shown one way: ``text``, inline ``code``, or a ``cite`` marker (``[n]``)."""

    text: str
    kind: RunKind = "text"
    marked: bool = False  # inside one of the cited sentences


@dataclass(frozen=True)
class Block:
    """A paragraph (``prose``), a list ``item`` (its own line) or a ``code`` block (its line breaks kept)."""

    kind: BlockKind
    runs: tuple[Run, ...]

    @property
    def text(self) -> str:
        """The block's text as read (its runs joined)."""
        return "".join(run.text for run in self.runs)


_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})")
_ITEM = re.compile(r"^[ \t]*(?:[-*+•]|\d{1,3}[.)])[ \t]+\S")
_HEADING = re.compile(r"^[ \t]{0,3}#{1,6}[ \t]+")
_INDENTED = re.compile(r"^(?: {4}|\t)")
_PROMPT = re.compile(r"^[ \t]*(?:>>>|\$)[ \t]")
_CITE = re.compile(r"\[(\d{1,3})\]")
_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")  # a backslash before ASCII punctuation: Markdown's escape
_CODE = re.compile(r"(`+)(.+?)\1", re.DOTALL)
_STRONG = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1", re.DOTALL)
_EMPHASIS = re.compile(
    r"(?<![\w*\\])\*(?=[^\s*])(.+?)(?<=[^\s\\*])\*(?![\w*])|(?<![\w\\])_(?=[^\s_])(.+?)(?<=[^\s\\_])_(?!\w)"
)
_PILCROW = re.compile(r"[ \t]*¶[ \t]*$")


def read(text: str, marks: Sequence[tuple[int, int]] = (), *, cites: bool = False) -> tuple[Block, ...]:
    """The blocks of ``text``; ``marks`` are spans of it (offsets into ``text``) to mark as cited.

    With ``cites``, ``[n]`` markers in prose (an answer's citations) become their own ``cite`` runs.
    """
    blocks: list[Block] = []
    for kind, lines in _group(text):
        chars = _code_chars(lines) if kind == "code" else _prose_chars(text, lines, cites)
        runs = _runs(chars, marks)
        if runs and "".join(r.text for r in runs).strip():
            blocks.append(Block(kind, runs))
    return tuple(blocks)


def plain_text(text: str, *, cites: bool = True) -> str:
    """``text`` as plain text: paragraphs reflowed and apart, items one per line, code blocks line for line."""
    out: list[str] = []
    previous: BlockKind | None = None
    for block in read(text, cites=cites):
        if out:
            out.append("\n" if block.kind == "item" and previous == "item" else "\n\n")
        out.append(block.text)
        previous = block.kind
    return "".join(out)


# ------------------------------------------------------------------------------------------ blocks

_Line = tuple[int, str]  # (offset of the line in the text, the line without its newline)


def _group(text: str) -> list[tuple[BlockKind, list[_Line]]]:
    """Split ``text`` into blocks of lines: fenced, indented or prompt code; list items; paragraphs."""
    lines: list[_Line] = []
    offset = 0
    for line in text.splitlines(keepends=True):
        lines.append((offset, line.rstrip("\r\n")))
        offset += len(line)
    groups: list[tuple[BlockKind, list[_Line]]] = []
    current: list[_Line] = []
    kind: BlockKind = "prose"
    fence: str | None = None

    def flush() -> None:
        nonlocal current
        if current:
            groups.append((kind, current))
        current = []

    for offset, line in lines:
        opening = _FENCE.match(line)
        if fence is not None:
            if opening and opening.group(1)[0] == fence[0] and len(opening.group(1)) >= len(fence):
                flush()
                fence, kind = None, "prose"
            else:
                current.append((offset, line))
            continue
        if opening:
            flush()
            fence, kind = opening.group(1), "code"
            continue
        if not line.strip():
            if kind != "code" or not current:
                flush()
                kind = "prose"
            else:
                current.append((offset, line))  # a blank line inside indented code; trimmed below if last
            continue
        starts_code = not current and (_INDENTED.match(line) or _PROMPT.match(line))
        if kind == "code" and not (_INDENTED.match(line) or _PROMPT.match(line) or _continues_session(current)):
            flush()
            kind = "prose"
        if starts_code:
            flush()
            kind = "code"
        elif kind != "code" and (_ITEM.match(line) or _HEADING.match(line)):
            flush()
            kind = "item" if _ITEM.match(line) else "prose"
            current.append((offset, line))
            if kind == "prose":  # a heading is a paragraph of its own
                flush()
            continue
        current.append((offset, line))
    flush()
    return [(k, _trim_blank(g) if k == "code" else g) for k, g in groups]


def _continues_session(lines: list[_Line]) -> bool:
    """A ``>>>`` session goes on to its output lines, until a blank line."""
    return bool(lines) and bool(_PROMPT.match(lines[0][1])) and bool(lines[-1][1].strip())


def _trim_blank(lines: list[_Line]) -> list[_Line]:
    while lines and not lines[-1][1].strip():
        lines = lines[:-1]
    return lines


# ------------------------------------------------------------------------------------------ characters

_Char = tuple[str, RunKind, int]  # (character, kind, its offset in the text)


def _code_chars(lines: list[_Line]) -> list[_Char]:
    indent = min((len(line) - len(line.lstrip(" \t")) for _, line in lines if line.strip()), default=0)
    chars: list[_Char] = []
    for i, (offset, line) in enumerate(lines):
        if i:
            chars.append(("\n", "code", offset - 1))
        chars += [(ch, "code", offset + indent + j) for j, ch in enumerate(line[indent:])]
    return chars


def _prose_chars(text: str, lines: list[_Line], cites: bool) -> list[_Char]:
    """The paragraph's characters with the markup dropped and its line breaks joined into spaces."""
    start = lines[0][0]
    end = lines[-1][0] + len(lines[-1][1])
    kinds: dict[int, RunKind] = {}
    drop: set[int] = set()
    for offset, line in lines:
        head = _HEADING.match(line) or re.match(r"^[ \t]+", line)
        if head:
            drop.update(range(offset, offset + head.end()))
        pilcrow = _PILCROW.search(line)
        if pilcrow:
            drop.update(range(offset + pilcrow.start(), offset + pilcrow.end()))
    piece = text[start:end]

    def free(m: re.Match[str], *groups: int) -> bool:
        """No character of the match (or of its delimiters, outside ``groups``) is code, a marker or dropped."""
        inside = set().union(*(range(start + m.start(g), start + m.end(g)) for g in groups))
        return not any(
            at in kinds or (at in drop and at not in inside) for at in range(start + m.start(), start + m.end())
        )

    for m in _CODE.finditer(piece):
        if free(m, 2):
            drop.update(range(start + m.start(), start + m.start(2)))
            drop.update(range(start + m.end(2), start + m.end()))
            kinds.update((start + i, "code") for i in range(m.start(2), m.end(2)))
    if cites:
        for m in _CITE.finditer(piece):
            if free(m) and not (m.start() and piece[m.start() - 1] == "\\"):
                kinds.update((start + i, "cite") for i in range(*m.span()))
    for m in _ESCAPE.finditer(piece):
        if free(m):
            drop.add(start + m.start())
    for pattern in (_STRONG, _EMPHASIS):
        for m in pattern.finditer(piece):
            inner = 2 if pattern is _STRONG or m.group(1) is None else 1
            if _only_delimiters_free(m, inner, start, kinds, drop):
                drop.update(range(start + m.start(), start + m.start(inner)))
                drop.update(range(start + m.end(inner), start + m.end()))
    chars: list[_Char] = []
    for i, ch in enumerate(piece):
        at = start + i
        if at in drop:
            continue
        kind = kinds.get(at, "text")
        if ch in "\r\n" and kind != "code":
            if chars and chars[-1][0] != " ":
                chars.append((" ", "text", at))
            continue
        if ch in " \t" and kind != "code" and chars and chars[-1][0] == " ":
            continue  # reflowed: one space between words
        chars.append((" " if ch == "\t" and kind != "code" else ch, kind, at))
    while chars and chars[-1][0] == " ":
        chars.pop()
    while chars and chars[0][0] == " ":
        chars.pop(0)
    return chars


def _only_delimiters_free(m: re.Match[str], inner: int, start: int, kinds: dict[int, RunKind], drop: set[int]) -> bool:
    """Emphasis around inline code or an escaped character: only its own delimiters must be free."""
    delimiters = [*range(m.start(), m.start(inner)), *range(m.end(inner), m.end())]
    return not any(start + i in kinds or start + i in drop for i in delimiters)


def _runs(chars: list[_Char], marks: Sequence[tuple[int, int]]) -> tuple[Run, ...]:
    runs: list[Run] = []
    text: list[str] = []
    state: tuple[RunKind, bool] | None = None
    for ch, kind, at in chars:
        here = (kind, any(a <= at < b for a, b in marks))
        if here != state and text and state is not None:
            runs.append(Run("".join(text), *state))
            text = []
        state = here
        text.append(ch)
    if text and state is not None:
        runs.append(Run("".join(text), *state))
    return tuple(runs)
