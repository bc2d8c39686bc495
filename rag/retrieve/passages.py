"""What retrieval returns: ``Passages``, best first, each a ``Passage`` with its sentences scored against the question.

Each ``Passage`` carries the cosine similarity of every one of its sentences to the question (from sentence
vectors computed at index time), so answerers, the grounding check and the UI can point at the exact sentence
without embedding anything more per question.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rag.ingest.chunking import Chunk

__all__ = ["Passage", "Passages", "ScoredSentence"]


@dataclass(frozen=True)
class ScoredSentence:
    """A sentence of a passage and how it matches the question.

    Attributes:
        start: Offset of the sentence in its document.
        end: Offset one past its end.
        score: Cosine similarity between the sentence and the question.
        overlap: Share of the question's terms found in the sentence, each weighted by its BM25 idf (0 to 1),
            so a rare name counts for more than a word every passage has. Terms found only in the previous
            sentence count half: "It signed with AWS" is about the company the sentence before names.
        terms: The question's terms found in the sentence.
        context_terms: The question's terms found in the sentence before it (what "it" may stand for).
    """

    start: int
    end: int
    score: float
    overlap: float = 0.0
    terms: frozenset[str] = frozenset()
    context_terms: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk.

    Attributes:
        chunk: The chunk: source, offsets, text.
        score: Cosine similarity between the question and the chunk, in [-1, 1].
        rank: 1 for the best passage.
        overlap: Idf-weighted share of the question's terms found in the passage (0 to 1).
        sentences: The chunk's sentences with their similarity to the question, in reading order.
        row: The chunk's row in the index it came from.
    """

    chunk: Chunk
    score: float
    rank: int
    sentences: tuple[ScoredSentence, ...]
    overlap: float = 0.0
    row: int = -1

    @property
    def source(self) -> str:
        """File name of the passage's document."""
        return self.chunk.source

    @property
    def start(self) -> int:
        """Offset of the passage in its document."""
        return self.chunk.start

    @property
    def end(self) -> int:
        """Offset one past the passage's end."""
        return self.chunk.end

    @property
    def text(self) -> str:
        """The passage's text."""
        return self.chunk.text

    @property
    def page(self) -> int | None:
        """The 1-based page the passage starts on (None for formats without pages)."""
        return self.chunk.page

    @property
    def page_label(self) -> str | None:
        """The printed label of that page, when the PDF defines one."""
        return self.chunk.page_label

    @property
    def section(self) -> str | None:
        """The heading path of the section the passage starts in, when its document has headings."""
        return self.chunk.section

    def sentence_text(self, sentence: ScoredSentence) -> str:
        """Text of one of this passage's sentences."""
        return self.text_between(sentence.start, sentence.end)

    def text_between(self, start: int, end: int) -> str:
        """The passage's text between two offsets into the document's text."""
        return self.chunk.text[start - self.chunk.start : end - self.chunk.start]

    def to_dict(self) -> dict[str, Any]:
        """The passage as a plain dict (one row of ``Passages.to_frame()``)."""
        return {
            "rank": self.rank,
            "source": self.source,
            "start": self.start,
            "end": self.end,
            "score": round(self.score, 4),
            "text": self.text,
        }


class Passages(list[Passage]):
    """A list of passages, best first, that also turns into a pandas DataFrame.

    ``unknown_names`` are the capitalised words of the question (names, places, products) that no
    indexed text contains: the documents cannot be about them, however close the passages look.
    ``term_weights`` are the question's terms with their idf (how much each counts in ``overlap``).
    ``keyword_only`` is True when the passages were found by keyword search alone (a question in a script
    the embedding model does not read): their cosine scores say nothing then.
    """

    unknown_names: tuple[str, ...] = ()
    term_weights: dict[str, float] = {}  # noqa: RUF012 - replaced per instance, never mutated
    keyword_only: bool = False

    def to_frame(self) -> Any:
        """Return a ``pandas.DataFrame`` with one row per passage (needs pandas)."""
        import pandas as pd

        return pd.DataFrame([p.to_dict() for p in self], columns=["rank", "source", "start", "end", "score", "text"])

    def _repr_html_(self) -> str:
        try:
            return str(self.to_frame()._repr_html_())
        except ImportError:
            return repr(self)
