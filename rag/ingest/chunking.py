r"""Splitting a document into sentences and overlapping, sentence-aligned chunks with exact offsets.

Every span is a pair of character offsets into ``Document.text``: ``document.text[chunk.start:chunk.end] ==
chunk.text`` always holds, so a citation can be located, highlighted and verified in the original file.
Sentences are the unit: chunks never cut one in half (except a single sentence longer than a chunk), and
the extractive answerer quotes whole sentences.

Hard-wrapped text (a README wrapped at 72 columns, a PDF's lines) is *reflowed* for sentence splitting: a
line break inside a paragraph of wrapped lines does not end a sentence. The spans still point into the
stored text, line breaks and all; ``reflow`` gives a span's text as one would read it ("manip-\nulation" ->
"manipulation"), for display and matching.

Each chunk knows its page, printed page label and section (from the document's spans), and where any of
them changes inside it (``Chunk.place_at``), so a citation can name the page of the very sentence it quotes.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from rag.ingest.documents import Document
from rag.ingest.readers.layout import is_navigation_page

__all__ = ["Chunk", "Place", "Sentence", "chunk_document", "reflow", "split_sentences"]


class Sentence(NamedTuple):
    """A sentence of a document, as character offsets into its text.

    A named tuple rather than a dataclass: an index holds millions, and a tuple is made several times faster.
    """

    start: int
    end: int


class Place(NamedTuple):
    """Where the text from offset ``start`` on comes from: page (1-based), printed page label, section."""

    start: int
    page: int | None = None
    page_label: str | None = None
    section: str | None = None


@dataclass(frozen=True)
class Chunk:
    """A passage of a document: the unit that is embedded, retrieved and cited.

    Attributes:
        id: Stable identifier: the same source, offsets and text always give the same id.
        source: The document's name.
        start: Offset of the first character in the document's text.
        end: Offset one past the last character.
        text: ``document.text[start:end]``.
        sentences: The sentences this chunk holds, as offsets into the document's text.
        page: The 1-based physical page the chunk starts on (None for formats without pages).
        page_label: That page's printed label, when the PDF defines one ("iv", "12").
        section: The heading path of the section the chunk starts in ("2. Unified system > 2.4. Globs").
        places: Where the page or section changes inside the chunk, in order (see ``place_at``).
    """

    id: str
    source: str
    start: int
    end: int
    text: str
    sentences: tuple[Sentence, ...]
    page: int | None = None
    page_label: str | None = None
    section: str | None = None
    places: tuple[Place, ...] = ()

    def sentence_text(self, sentence: Sentence) -> str:
        """Text of one of this chunk's sentences."""
        return self.text[sentence.start - self.start : sentence.end - self.start]

    def place_at(self, offset: int) -> Place:
        """Page, page label and section of the text at ``offset`` (an offset into the document, in this chunk)."""
        place = Place(self.start, self.page, self.page_label, self.section)
        for later in self.places:
            if later.start > offset:
                break
            place = later
        return place


# Hangul, Kana and Han: a sentence in these scripts may start right after a full stop with no capital.
_CJK = "\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
# A sentence ends at . ! or ? (plus closing quotes/brackets) followed by whitespace and a capital letter,
# digit, opening quote or CJK character ("열렸다. 참석자는"); or at a CJK full stop, exclamation or question
# mark, with or without a space after it. Lower-case continuations ("on its A. service") are not boundaries,
# and neither is a dot inside an identifier or version ("os.path.join", "read.table", "v1.2"): no space
# follows it.
_BOUNDARY = re.compile(rf"""[.!?]+["'”’)\]]*\s+(?=["'“‘(\[]?[A-Z0-9{_CJK}])|[。！？]+["'”’」』)\]]*\s*(?=\S)""")
# Abbreviations whose period does not end a sentence.
_ABBREVIATIONS = frozenset(
    """mr mrs ms dr prof sr jr st vs inc ltd co corp no nos fig figs eq eqs e.g i.e u.s u.k cf approx resp
    viz ca al ch sec sect pp vol jan feb mar apr jun jul aug sep sept oct nov dec""".split()
)
_BULLET = re.compile(r"[-*•–]\s+|#{1,6}\s+")  # list markers, and Markdown's heading markers
_MIN_SENTENCE_CHARS = 2


def split_sentences(text: str, max_chars: int = 800, *, wrapped: bool = True) -> list[Sentence]:
    """Find the sentences of ``text``: hard line breaks always end one; so do ., ! and ? before a new sentence.

    A soft line break (inside a paragraph of hard-wrapped lines, see ``_soft_breaks``) does not end a
    sentence; ``wrapped=False`` says the text has none (a web page's text is written one block a line), so
    every line break is hard. Leading bullet markers and surrounding whitespace are left out of the spans. A
    sentence longer than ``max_chars`` is cut at word boundaries into pieces of at most ``max_chars``.
    """
    sentences: list[Sentence] = []
    for line_start, line_end in _logical_lines(text, wrapped):
        piece_start = 0
        line_text = text[line_start:line_end]
        for boundary in _BOUNDARY.finditer(line_text):
            if _ends_with_abbreviation(line_text[piece_start : boundary.start() + 1], line_text[boundary.end() :]):
                continue
            _add_span(sentences, text, line_start + piece_start, line_start + boundary.end(), max_chars)
            piece_start = boundary.end()
        _add_span(sentences, text, line_start + piece_start, line_end, max_chars)
    return sentences


# A line that starts a block of its own, never the continuation of the line before: a list item, a heading,
# a table row, a quote, indented code.
_BLOCK_START = re.compile(r"[ \t]*(?:[-*•–+>|#]|\d{1,3}[.)]\s|[a-zA-Z][.)]\s)|    |\t")
# Wrapped paragraphs have most lines near one width; prose written one paragraph a line does not.
_MAX_WRAP_WIDTH = 130
# How a line of code or syntax ends (a statement, a block, an optional argument: "{full|trim} {default}");
# prose wrapped at one of these goes on in lower case.
_CODE_LINE_ENDS = (";", "{", "}")
_SOFT_LINE_SHARE = 0.55


# A line of code or a shell command that goes on, after a backslash, on the next line ("... 4da45bef \").
# A LaTeX line break ("a \\") and a path's separator ("C:\TEMP\") end their line.
_CONTINUED = re.compile(r"(?:^|\s)\\[ \t]*$")


def _logical_lines(text: str, wrapped: bool = True) -> list[tuple[int, int]]:
    """Spans of ``text``'s lines, joined across soft line breaks (when ``wrapped``) and backslash continuations."""
    lines = [(m.start(), m.end()) for m in re.finditer(r"[^\n]+", text)]
    continued = {
        i
        for i, (start, end) in enumerate(lines[:-1])
        if _CONTINUED.search(text, start, end) and lines[i + 1][0] == end + 1
    }
    soft = _soft_breaks(text, lines) | continued if wrapped else continued
    merged: list[tuple[int, int]] = []
    for i, (start, end) in enumerate(lines):
        if merged and i - 1 in soft:
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def _soft_breaks(text: str, lines: list[tuple[int, int]]) -> set[int]:
    """Indexes ``i`` of the lines whose line break (to line ``i + 1``) is soft: a wrap inside a paragraph.

    Only text that looks hard-wrapped is reflowed: its lines' width (the 90th percentile of their lengths)
    is at most ``_MAX_WRAP_WIDTH`` characters. Then a break is soft when the next line directly follows (no
    blank line), does not start a block (list item, heading, table row, code), and the line before it fills
    at least ``_SOFT_LINE_SHARE`` of the width around it (the longest of the two lines before and after it,
    so a narrow column is measured against its own width, but never more than the text's typical width): a
    short line ends its paragraph, or is a title.
    """
    lengths = [len(text[s:e].rstrip()) for s, e in lines]
    filled = sorted(n for n in lengths if n)
    typical = filled[min(len(filled) - 1, int(len(filled) * 0.9))] if filled else 0
    if len(filled) < 2 or typical > _MAX_WRAP_WIDTH:
        return set()
    soft = set()
    for i in range(len(lines) - 1):
        (start, end), (next_start, next_end) = lines[i], lines[i + 1]
        if next_start != end + 1 or not text[next_start:next_end].strip():
            continue
        # A line longer than the text's typical width nearby (a PDF line that ran into the margin, a URL)
        # does not widen the measure: against it, every full line around it looked short and ended its
        # paragraph ("it is not necessary" / "to terminate input lines with a semicolon.").
        width = min(max(lengths[max(0, i - 2) : i + 3]), typical)
        line = text[start:end].rstrip()
        if len(line) < _SOFT_LINE_SHARE * width or _BLOCK_START.match(text, next_start) or line.lstrip()[:1] in "#|":
            continue
        if line.endswith(_CODE_LINE_ENDS) and text[next_start:next_end].lstrip()[:1].isupper():
            continue  # a declaration or syntax line, then prose: "int subsample=1);" / "The integers nx and ny"
        soft.add(i)
    return soft


_HYPHENATED = re.compile(r"(?<=[^\W\d_])-[ \t]*\n[ \t]*(?=[a-z])")
# A line break with the spaces around it, and runs of spaces left where a PDF's page furniture was blanked.
_BREAK = re.compile(r"[ \t]*\n[ \t]*|[ \t]{3,}")


def reflow(text: str) -> str:
    """``text`` as read: soft hyphens dropped, a word hyphenated at a line end joined, line breaks made spaces."""
    return _BREAK.sub(" ", _HYPHENATED.sub("", text.replace("\u00ad", "")))


def _ends_with_abbreviation(piece: str, following: str) -> bool:
    """True when ``piece``'s final period belongs to an abbreviation, a page reference or an initial."""
    words = piece.rstrip(".!?\"'”’)]").split()
    if not words or not piece.rstrip().endswith("."):
        return False
    last = words[-1].lower()
    # "(p. 168)": gnuplot's manual refers to pages so in nearly every section ("p." alone may be a variable).
    if last == "(p" or last.lstrip("([").rstrip(".") in _ABBREVIATIONS:
        return True
    # An initial after a name ("(cf. John D. Hobby, ...)"), unless a sentence opens after it ("See Appendix A.
    # The next section ...").
    next_word = following.split(maxsplit=1)[0].lower() if following.strip() else ""
    initial = len(words) > 1 and re.fullmatch(r"[A-Z]\.?", words[-1]) is not None and words[-2][:1].isupper()
    return initial and next_word not in _SENTENCE_OPENERS


# Words that open a sentence far more often than they follow an initial.
_SENTENCE_OPENERS = frozenset(
    "the a an this that these those it its there then in on for if when while as to we you they he she i "
    "see use note also but and or however thus so".split()
)


def _add_span(out: list[Sentence], text: str, start: int, end: int, max_chars: int) -> None:
    """Trim whitespace and bullets from ``text[start:end]`` and append it, cut to ``max_chars`` pieces."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    bullet = _BULLET.match(text, start, end)
    if bullet:
        start = bullet.end()
    while end - start > max_chars:
        cut = text.rfind(" ", start + max_chars // 2, start + max_chars)
        cut = cut if cut > start else start + max_chars
        _add_span(out, text, start, cut, max_chars)
        start = cut
        while start < end and text[start].isspace():
            start += 1
    if end - start >= _MIN_SENTENCE_CHARS:
        out.append(Sentence(start, end))


def chunk_document(
    document: Document, chunk_size: int = 800, chunk_overlap: int = 200
) -> tuple[list[Sentence], list[Chunk]]:
    """Split ``document`` into sentences, then group consecutive sentences into chunks.

    A chunk grows sentence by sentence while it stays within ``chunk_size`` characters. The next chunk
    starts with as many trailing sentences of the previous one as fit in ``chunk_overlap`` characters, so a
    fact near a boundary is whole in at least one chunk.

    A web page's text has no hard-wrapped lines (``rag.ingest.readers.html`` writes one block a line), so its line
    breaks all end sentences. Contents and index pages of a paged document
    (``rag.ingest.readers.layout.is_navigation_page``) are left out: their sentences are lists of titles and page
    numbers that answer nothing, yet match every name a question holds.

    Returns:
        The document's sentences and its chunks, in reading order.
    """
    sentences = split_sentences(document.text, max_chars=chunk_size, wrapped=document.kind != "html")
    navigation = [p for p in document.pages if is_navigation_page(document.text[p.start : p.end])]
    if navigation:
        sentences = [s for s in sentences if not any(p.start <= s.start < p.end for p in navigation)]
    places = _places(document)
    chunks: list[Chunk] = []
    first = 0
    while first < len(sentences):
        last = first
        while last + 1 < len(sentences) and sentences[last + 1].end - sentences[first].start <= chunk_size:
            last += 1
        chunks.append(_make_chunk(document, sentences, first, last, places))
        if last + 1 >= len(sentences):
            break
        # Step back over trailing sentences that fit in the overlap, but always move forward by one.
        next_first = last + 1
        while next_first - 1 > first and sentences[last].end - sentences[next_first - 1].start <= chunk_overlap:
            next_first -= 1
        # A description starts no chunk without its term ("--porcelain" above "With list, output in an
        # easy-to-parse format"): the chunk starts at the term, so the answer can say which option it is.
        while next_first - 1 > first and _is_label(document.text, sentences[next_first - 1], sentences[next_first]):
            next_first -= 1
        first = next_first
    return sentences, chunks


# A term line (a <dt> signature or option above its description) is at most this long and ends no sentence;
# ``rag.answer.answerers.quoting.label_of`` reads labels by the same two rules.
MAX_LABEL_CHARS = 250
ENDS_SENTENCE = re.compile(r"[.!?。！？][\"'”’)\]]*\s*$")


def _is_label(text: str, line: Sentence, following: Sentence) -> bool:
    """True when ``line`` is a term directly above ``following`` (a ``<dt>`` above its description).

    A term is a whole line of at most ``MAX_LABEL_CHARS`` that ends no sentence, with one line break between
    it and the next line (a blank line would end the block), as the web page reader writes them.
    """
    line_start = text.rfind("\n", 0, line.start) + 1
    term = text[line_start : line.end]
    return (
        text[line.end : following.start] == "\n"
        and not term[: line.start - line_start].strip()
        and len(term) <= MAX_LABEL_CHARS
        and not ENDS_SENTENCE.search(term)
    )


def _places(document: Document) -> list[Place]:
    """Every offset where the page or the section changes, with what holds from there on."""
    offsets = sorted(
        {p.start for p in document.pages} | {s.start for s in document.sections} | {s.end for s in document.sections}
    )
    places: list[Place] = []
    for offset in offsets:
        page = next((p for p in reversed(document.pages) if p.start <= offset), None)
        section = next((s for s in reversed(document.sections) if s.start <= offset < s.end), None)
        place = Place(
            offset,
            page.number if page else None,
            page.label if page else None,
            section.title if section else None,
        )
        if not places or places[-1][1:] != place[1:]:
            places.append(place)
    return places


def _make_chunk(
    document: Document, sentences: Sequence[Sentence], first: int, last: int, places: Sequence[Place] = ()
) -> Chunk:
    start, end = sentences[first].start, sentences[last].end
    text = document.text[start:end]
    digest = hashlib.sha256(f"{document.source}\0{start}\0{end}\0{text}".encode()).hexdigest()[:16]
    at_start = next((p for p in reversed(places) if p.start <= start), Place(start))
    inside = tuple(p for p in places if start < p.start < end)
    return Chunk(
        id=digest,
        source=document.source,
        start=start,
        end=end,
        text=text,
        sentences=tuple(sentences[first : last + 1]),
        page=at_start.page,
        page_label=at_start.page_label,
        section=at_start.section,
        places=inside,
    )
