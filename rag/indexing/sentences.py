"""Sentence vectors as both stores keep them: pooled from their chunk's token vectors, one reading per sentence.

One pass of the model per chunk gives the chunk's vector and, pooled from the same token vectors, a vector for
each of its sentences (``Embedder.encode_with_spans``): each sentence is read in its context, and no second
pass over the text is needed. A sentence in the overlap of two chunks is read twice; it keeps its first
chunk's reading. ``sentence_rows`` says which pooled vector each sentence keeps, for the FAISS job (one matrix
of distinct sentences, each chunk pointing at its rows) and the Postgres job (each chunk's sentences in a row).
"""

from __future__ import annotations

from collections.abc import Sequence

from rag.ingest.chunking import Chunk, Sentence
from rag.ingest.readers.base import innermost_heading

__all__ = ["embedding_inputs", "sentence_rows"]


def sentence_rows(
    files: Sequence[tuple[Sequence[Sentence], Sequence[Chunk]]],
) -> tuple[list[tuple[int, ...]], list[int]]:
    """For each chunk, the rows of its sentences among the distinct sentences; for each of those, its pooled vector.

    ``files`` are each file's sentences and chunks, in the order their chunks were embedded. The pooled vectors
    come one per sentence per chunk, in chunk order; the first list gives, chunk by chunk, the rows of its
    sentences in the deduplicated sentence vectors, and the second, for each such row, the index of the pooled
    vector it keeps (its first reading). ``pooled[kept]`` are then the distinct sentences' vectors.

    Raises:
        AssertionError: A sentence of a file belongs to none of its chunks.
    """
    rows: list[tuple[int, ...]] = []
    kept: list[int] = []  # for each distinct sentence, its row in the pooled vectors
    n_pooled = 0
    for sentences, chunks in files:
        positions: dict[Sentence, int] = {}
        for chunk in chunks:
            for sentence in chunk.sentences:
                if sentence not in positions:  # a sentence in the overlap keeps its first chunk's reading
                    positions[sentence] = len(kept)
                    kept.append(n_pooled)
                n_pooled += 1
            rows.append(tuple(positions[s] for s in chunk.sentences))
        if len(positions) != len(sentences):
            raise AssertionError("every sentence of a document belongs to one of its chunks")
    return rows, kept


# The heading a chunk is read under: its section's last title, at most this long (the model reads 256 tokens
# of a chunk; an 800-character chunk takes about 200 of them).
_MAX_HEADER_CHARS = 80


def embedding_inputs(chunks: Sequence[Chunk]) -> tuple[list[str], list[list[tuple[int, int]]]]:
    """What the model reads of each chunk, and where each of its sentences lies in that text.

    A chunk is read under the title of the section it starts in ("os.path.exists(path)", "8.35 contour"):
    "Returns False for broken symbolic links." says which function only under its heading. The stored text and
    every offset are the chunk's own; only the vectors see the title.
    """
    texts, spans = [], []
    for chunk in chunks:
        title = innermost_heading(chunk.section)[:_MAX_HEADER_CHARS]
        header = f"{title}\n" if title and not chunk.text.startswith(title) else ""
        texts.append(header + chunk.text)
        spans.append(
            [(s.start - chunk.start + len(header), s.end - chunk.start + len(header)) for s in chunk.sentences]
        )
    return texts, spans
