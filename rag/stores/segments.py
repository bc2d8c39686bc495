"""The FAISS index's segments on disk: the chunks of some files, as embedded together, in one folder.

::

    seg-<id>/vectors.npy    one float32 unit vector per chunk of the segment (8-bit codes with
                            ``vector_storage="int8"``)
    seg-<id>/chunks.jsonl   one chunk a line, in the same order: id, source, offsets, text, and its
                            sentences with their rows in sentences.npy
    seg-<id>/sentences.npy  one float16 unit vector per sentence, pooled from its chunk's token vectors,
                            for the extractive answerer (8-bit codes with ``vector_storage="int8"``)

None of them is a pickle. A segment never changes once written; ``rag.stores.faiss`` assembles the live view
of an index from its segments, and checks each file against its SHA-256 in the manifest.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rag.embeddings import Vectors
from rag.errors import CorruptIndexError
from rag.ingest.chunking import Chunk, Place, Sentence
from rag.stores.codec import VectorCodec
from rag.stores.manifest import Manifest

__all__ = [
    "CHUNKS",
    "SEGMENT_FILES",
    "SENTENCES",
    "VECTORS",
    "Segment",
    "check_segments",
    "file_sha256",
    "fsync_file",
    "read_segment",
    "write_segment",
]


VECTORS = "vectors.npy"
CHUNKS = "chunks.jsonl"
SENTENCES = "sentences.npy"
SEGMENT_FILES = (VECTORS, CHUNKS, SENTENCES)


@dataclass
class Segment:
    """The chunks of some files, as embedded together: one folder of the index.

    ``sentence_rows[i][j]`` is the row in ``sentence_vectors`` of ``chunks[i].sentences[j]``. Vectors are
    as stored (see ``VectorCodec``): floats, or 8-bit codes.
    """

    name: str
    chunks: list[Chunk]
    chunk_vectors: np.ndarray
    sentence_rows: list[tuple[int, ...]]
    sentence_vectors: np.ndarray
    _flat: Any = field(default=None, repr=False, compare=False)

    def live(self, sources: set[str]) -> np.ndarray:
        """A mask over this segment's chunks: True for those of a file in ``sources``."""
        names, codes = self._sources
        keep = np.fromiter((name in sources for name in names), dtype=bool, count=len(names))
        return keep[codes] if len(codes) else np.zeros(0, dtype=bool)

    @functools.cached_property
    def _sources(self) -> tuple[list[str], np.ndarray]:
        # Each chunk's file as a number, worked out once per segment: a refresh then finds the live chunks of
        # a 100k-chunk segment with one numpy lookup instead of a Python test per chunk.
        numbers: dict[str, int] = {}
        codes = np.fromiter(
            (numbers.setdefault(chunk.source, len(numbers)) for chunk in self.chunks),
            dtype=np.int32,
            count=len(self.chunks),
        )
        return list(numbers), codes

    def flat_index(self, codec: VectorCodec) -> Any:
        """This segment's chunk vectors in an exact FAISS index (built on first use, then kept).

        Segments never change, so their indexes are shared by every store that holds them: a refresh adds
        an index for its new segment and reuses the others, instead of copying every vector into a new one.
        """
        if self._flat is None:  # two threads may both build it; one of the equal results is kept
            index = codec.new_index("flat", self.chunk_vectors.shape[1])
            if len(self.chunk_vectors):
                stored = np.ascontiguousarray(self.chunk_vectors)
                if codec.storage == "int8":
                    index.add_sa_codes(stored)  # the codes go in as they are: nothing to decode
                else:
                    index.add(stored)
            self._flat = index
        return self._flat

    @classmethod
    def new(
        cls,
        chunks: Sequence[Chunk],
        chunk_vectors: Vectors,
        sentence_rows: Sequence[tuple[int, ...]],
        sentence_vectors: np.ndarray,
        codec: VectorCodec = VectorCodec(),
    ) -> Segment:
        """A segment with a fresh, unique name, not yet on disk, its float vectors encoded by ``codec``."""
        if len(chunks) != len(chunk_vectors) or len(chunks) != len(sentence_rows):
            raise ValueError("chunks, chunk vectors and sentence rows must have the same length")
        return cls(
            f"seg-{uuid.uuid4().hex[:12]}",
            list(chunks),
            codec.encode_chunks(chunk_vectors),
            list(sentence_rows),
            codec.encode_sentences(sentence_vectors),
        )


def write_segment(folder: Path, segment: Segment) -> dict[str, str]:
    """Write ``segment`` as a new folder under ``folder``; return the checksums of its files."""
    target = folder / segment.name
    target.mkdir()
    with open(target / VECTORS, "wb") as out:
        np.save(out, segment.chunk_vectors, allow_pickle=False)
    with open(target / CHUNKS, "w", encoding="utf-8") as out:
        for chunk, rows in zip(segment.chunks, segment.sentence_rows, strict=True):
            out.write(json.dumps(_chunk_to_dict(chunk, rows), ensure_ascii=False) + "\n")
    with open(target / SENTENCES, "wb") as out:
        np.save(out, segment.sentence_vectors, allow_pickle=False)
    for name in SEGMENT_FILES:
        fsync_file(target / name)
    return {f"{segment.name}/{name}": file_sha256(target / name) for name in SEGMENT_FILES}


def read_segment(folder: Path, name: str, codec: VectorCodec) -> Segment:
    """Read segment ``name`` from ``folder``: its vectors stay as stored (``codec`` says which types to expect)."""
    chunks, rows = _read_chunks(folder / name / CHUNKS)
    with open(folder / name / VECTORS, "rb") as file:
        chunk_vectors = np.load(file, allow_pickle=False)
    with open(folder / name / SENTENCES, "rb") as file:
        sentence_vectors = np.load(file, allow_pickle=False)
    if (chunk_vectors.dtype, sentence_vectors.dtype) != codec.dtypes():
        raise ValueError(f"segment {name} holds vectors of type {chunk_vectors.dtype}/{sentence_vectors.dtype}")
    return Segment(name, chunks, chunk_vectors, rows, sentence_vectors)


def _chunk_to_dict(chunk: Chunk, rows: tuple[int, ...]) -> dict[str, Any]:
    return {
        "id": chunk.id,
        "source": chunk.source,
        "start": chunk.start,
        "end": chunk.end,
        "text": chunk.text,
        "sentences": [[s.start, s.end, row] for s, row in zip(chunk.sentences, rows, strict=True)],
        # Where the text comes from; left out when unknown, so plain-text chunks cost nothing more.
        **({"page": chunk.page} if chunk.page is not None else {}),
        **({"page_label": chunk.page_label} if chunk.page_label is not None else {}),
        **({"section": chunk.section} if chunk.section is not None else {}),
        **({"places": [list(place) for place in chunk.places]} if chunk.places else {}),
    }


def _read_chunks(path: Path) -> tuple[list[Chunk], list[tuple[int, ...]]]:
    chunks: list[Chunk] = []
    rows: list[tuple[int, ...]] = []
    with open(path, encoding="utf-8") as file:
        for line in file:
            raw = json.loads(line)
            spans = raw["sentences"]
            chunks.append(
                Chunk(
                    id=str(raw["id"]),
                    source=str(raw["source"]),
                    start=int(raw["start"]),
                    end=int(raw["end"]),
                    text=str(raw["text"]),
                    sentences=tuple(Sentence(int(s), int(e)) for s, e, _ in spans),
                    page=raw.get("page"),
                    page_label=raw.get("page_label"),
                    section=raw.get("section"),
                    places=tuple(Place(*place) for place in raw.get("places", ())),
                )
            )
            rows.append(tuple(int(r) for _, _, r in spans))
    return chunks, rows


def check_segments(folder: Path, manifest: Manifest, segments: list[Segment]) -> None:
    """Raise ``CorruptIndexError`` when the segments disagree with themselves or with the manifest."""
    problems = []
    live_counts: dict[str, int] = {}
    for segment in segments:
        if segment.chunk_vectors.ndim != 2 or len(segment.chunk_vectors) != len(segment.chunks):
            problems.append(f"{segment.name}: {len(segment.chunk_vectors)} vectors for {len(segment.chunks)} chunks")
        for vectors in (segment.chunk_vectors, segment.sentence_vectors):
            if vectors.ndim != 2 or (len(vectors) and vectors.shape[1] != manifest.dimension):
                problems.append(f"{segment.name}: vectors of shape {vectors.shape}")
        n_sentences = len(segment.sentence_vectors)
        for chunk, rows in zip(segment.chunks, segment.sentence_rows, strict=True):
            entry = manifest.files.get(chunk.source)
            if len(chunk.text) != chunk.end - chunk.start or len(rows) != len(chunk.sentences):
                problems.append(f"chunk {chunk.id} does not match the manifest")
                break
            if any(not 0 <= r < n_sentences for r in rows):
                problems.append(f"chunk {chunk.id} points to a missing sentence vector")
                break
            if entry is not None and entry.segment == segment.name:
                live_counts[chunk.source] = live_counts.get(chunk.source, 0) + 1
    for source, entry in manifest.files.items():
        if entry.segment not in manifest.segments or live_counts.get(source, 0) != entry.chunks:
            problems.append(f"{source}: the manifest's chunk count does not match its segment")
            break
    if problems:
        raise CorruptIndexError(f"{folder} is inconsistent: {'; '.join(problems[:3])}")


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes (hex)."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fsync_file(path: Path) -> None:
    """Flush a written file to disk, before a manifest that references it is committed."""
    with open(path, "rb") as file:
        os.fsync(file.fileno())
