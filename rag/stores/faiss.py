"""The persisted index: chunks with their text and offsets, chunk and sentence vectors, and a manifest.

An index folder holds a manifest and one or more *segments*, none of them a pickle::

    index/
      manifest.json           format version, embedding model and dimension, chunking settings, the SHA-256
                              of each source file (what the refresh check compares), which segment holds
                              each file, and the SHA-256 of every data file below (what catches a truncated
                              or hand-edited index)
      seg-<id>/vectors.npy    one float32 unit vector per chunk of the segment (8-bit codes with
                              ``vector_storage="int8"``)
      seg-<id>/chunks.jsonl   one chunk a line, in the same order: id, source, offsets, text, and its
                              sentences with their rows in sentences.npy
      seg-<id>/sentences.npy  one float16 unit vector per sentence, pooled from its chunk's token vectors,
                              for the extractive answerer (8-bit codes with ``vector_storage="int8"``)
      hnsw-<id>.faiss         with ``index_type="hnsw"`` only: the search graph; a refresh adds the new
                              segment's vectors to it, and chunks that died stay in it, filtered out of
                              every search, until a compaction

Segments are what make a refresh cost the changed files, not the corpus: a refresh writes the changed and
added files' chunks as one new segment and a new manifest. Chunks of a file that changed or disappeared stay
in their old segment, dead (the manifest no longer points there), until a compaction folds every live chunk
into one segment, without re-embedding, once there are too many segments or dead chunks.

Writes are atomic: segments are new folders that nothing references until the manifest is replaced (a
rename), so a crash leaves the previous index usable; folders no manifest references are removed later.

Vectors are kept as floats, or scalar-quantized to one byte per dimension (``VectorCodec``): a quarter of
float32's size on disk and in memory, searched by FAISS over the codes themselves.

In memory, a ``ChunkStore`` is the live view: live chunks in segment order, their vectors in a FAISS index
(exact search: ``IndexFlatIP`` or ``IndexScalarQuantizer``; graph search: ``IndexHNSWFlat`` or
``IndexHNSWSQ``), and the segments themselves for sentence vectors.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import gc
import hashlib
import json
import logging
import os
import shutil
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import faiss
import numpy as np

from rag.embeddings import Vectors
from rag.errors import CorruptIndexError, IndexNotFoundError, IndexOutdatedError, IndexVersionError
from rag.ingest.chunking import Chunk, Place, Sentence

if TYPE_CHECKING:  # rag.stores.base imports this module
    from rag.stores.base import Scope

__all__ = ["FORMAT_VERSION", "SENTENCE_VECTORS", "ChunkStore", "FileEntry", "Manifest", "Segment", "VectorCodec"]

logger = logging.getLogger(__name__)

FORMAT_VERSION = 3
# What each format brought, for the log line that says why an older index is rebuilt.
FORMAT_CHANGES = {3: "chunks carry their page, page label and section; the manifest lists skipped files"}
MANIFEST = "manifest.json"
VECTORS = "vectors.npy"
CHUNKS = "chunks.jsonl"
SENTENCES = "sentences.npy"
SEGMENT_FILES = (VECTORS, CHUNKS, SENTENCES)
_FORMAT_1_FILES = {"vectors.faiss", CHUNKS, SENTENCES}  # left by an index of format 1, replaced in place
# Sentence vectors are most of an index (several per chunk), and only rank a chunk's own sentences against
# one another: float16 halves them on disk and in memory, and changed no eval result.
SENTENCE_DTYPE = np.float16
# Sentence vectors are pooled from the token vectors of their chunk ("late chunking"); an index whose
# sentences were embedded on their own ("separate") is rebuilt, since the answerer is calibrated for these.
SENTENCE_VECTORS = "pooled-in-chunk"
# HNSW graph parameters: 32 links per node, a construction beam of 80, a search beam of 256. On the 13,763
# real sentence vectors of the 1k benchmark corpus, recall@10 against exact search is 1.00 for queries like
# the corpus's own text at any beam from 64, and 0.74 / 0.88 / 0.95 / 0.98 at beams 64 / 128 / 256 / 512 for
# questions the corpus does not answer (off-topic: their neighbours are near ties); 256 costs about twice
# the time of 128 and stays far under exact search at the sizes where HNSW is chosen.
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 256
# 8-bit codes span [-r, r] in every dimension, r being this many times the largest component in the first
# build's vectors. Ranges fitted per dimension to a small first build (the two seed articles) clipped 13% of
# the components of other documents (cosine to the float vector 0.963); twice the largest clipped none on the
# 1k-chunk benchmark corpus (cosine 0.9998, recall@10 against float32 0.989).
QUANTIZER_HEADROOM = 2.0


@dataclass(frozen=True)
class VectorCodec:
    """How an index keeps its vectors: as floats, or as 8-bit scalar-quantized codes.

    ``"float32"`` keeps chunk vectors as float32 and sentence vectors as float16. ``"int8"`` keeps both as
    one byte per dimension: FAISS's ``QT_8bit`` scalar quantizer, whose 256 steps per dimension span a range
    set once from the first build's vectors (``fit``), then kept, so that every segment shares one code
    book and compaction never re-quantizes. FAISS searches the codes directly.

    Attributes:
        storage: ``"float32"`` or ``"int8"``.
        ranges: For ``"int8"``: each dimension's minimum, then each one's width (FAISS's ``trained`` layout).
    """

    storage: str = "float32"
    ranges: tuple[float, ...] = ()

    @classmethod
    def fit(cls, storage: str, samples: Sequence[np.ndarray]) -> VectorCodec:
        """A codec for ``storage``; for ``"int8"``, its range set from ``samples`` (float unit vectors)."""
        if storage == "float32":
            return cls()
        if storage != "int8":
            raise ValueError(f"unknown vector storage {storage!r}")
        largest = max(float(np.abs(v).max()) for v in samples if len(v))
        reach = min(1.0, QUANTIZER_HEADROOM * largest)  # components of unit vectors are never past 1
        dimension = next(np.shape(v)[1] for v in samples if len(v))
        return cls("int8", (-reach,) * dimension + (2 * reach,) * dimension)

    @functools.cached_property
    def _quantizer(self) -> Any:
        # Made once per codec: building it took most of a 65 us decode, paid per passage per question.
        quantizer = faiss.ScalarQuantizer(len(self.ranges) // 2, faiss.ScalarQuantizer.QT_8bit)
        faiss.copy_array_to_vector(np.asarray(self.ranges, dtype=np.float32), quantizer.trained)
        return quantizer

    def encode_chunks(self, vectors: np.ndarray) -> np.ndarray:
        """Chunk vectors as stored: float32, or uint8 codes."""
        return self._encode(vectors, np.float32)

    def encode_sentences(self, vectors: np.ndarray) -> np.ndarray:
        """Sentence vectors as stored: float16, or uint8 codes."""
        return self._encode(vectors, SENTENCE_DTYPE)

    def _encode(self, vectors: np.ndarray, float_dtype: type) -> np.ndarray:
        if self.storage == "float32":
            return np.ascontiguousarray(vectors, dtype=float_dtype)
        return np.asarray(self._quantizer.compute_codes(np.ascontiguousarray(vectors, dtype=np.float32)))

    def decode(self, stored: np.ndarray) -> np.ndarray:
        """Stored vectors as floats (float16 sentence vectors stay float16)."""
        if self.storage == "float32":
            return stored
        return np.asarray(self._quantizer.decode(np.ascontiguousarray(stored)))

    def dtypes(self) -> tuple[type, type]:
        """The stored types of chunk and sentence vectors."""
        return (np.float32, SENTENCE_DTYPE) if self.storage == "float32" else (np.uint8, np.uint8)

    def new_index(self, index_type: str, dimension: int) -> Any:
        """An empty FAISS index for unit vectors of this codec, scored by inner product (= cosine)."""
        if index_type not in {"flat", "hnsw"}:
            raise CorruptIndexError(f"unknown index type {index_type!r}")
        index: Any
        ip, qt8 = faiss.METRIC_INNER_PRODUCT, faiss.ScalarQuantizer.QT_8bit
        if self.storage == "float32":
            index = faiss.IndexFlatIP(dimension) if index_type == "flat" else faiss.IndexHNSWFlat(dimension, HNSW_M, ip)
        else:
            index = faiss.IndexScalarQuantizer(dimension, qt8, ip) if index_type == "flat" else _hnsw_sq(dimension)
            codes: Any = index if index_type == "flat" else faiss.downcast_index(index.storage)
            faiss.copy_array_to_vector(np.asarray(self.ranges, dtype=np.float32), codes.sq.trained)
            codes.is_trained = index.is_trained = True  # trained by hand: the ranges are the code book
        if index_type == "hnsw":
            index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        return index


def _hnsw_sq(dimension: int) -> Any:
    constructor: Any = faiss.IndexHNSWSQ  # its stubs miss this (dimension, quantizer type, M, metric) form
    return constructor(dimension, faiss.ScalarQuantizer.QT_8bit, HNSW_M, faiss.METRIC_INNER_PRODUCT)


@dataclass(frozen=True)
class FileEntry:
    """What the index knows of one source file.

    ``size`` and ``mtime_ns`` are the file's when it was hashed (-1 when unknown, or when the file had been
    modified too recently to trust its time): a file that still has both is not read again to be hashed.
    """

    sha256: str
    chunks: int
    sentences: int
    segment: str = ""
    size: int = -1
    mtime_ns: int = -1
    kind: str = ""  # the format its reader saw: "text", "pdf", "docx", "html"
    pages: int = 0  # for PDFs: how many pages
    indexed_at: float = 0.0  # when its chunks were embedded (Unix time; 0 when unknown)


@dataclass
class Manifest:
    """Everything needed to decide whether an index still matches its documents and settings."""

    embedding_model: str
    dimension: int
    chunk_size: int
    chunk_overlap: int
    files: dict[str, FileEntry]
    sentence_vectors: str = "separate"  # how sentence vectors were made; SENTENCE_VECTORS for new indexes
    format_version: int = FORMAT_VERSION
    index_type: str = "flat"
    vector_storage: str = "float32"
    vector_ranges: list[float] = field(default_factory=list)  # the int8 codec's ranges (VectorCodec)
    segments: list[str] = field(default_factory=list)
    graph: str = ""  # the HNSW graph file, when index_type is "hnsw"
    # The graph's vectors, in order: [segment name, how many chunks of it], its segments as they were added.
    graph_layout: list[list[Any]] = field(default_factory=list)
    checksums: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # files of the docs folder not indexed -> why
    # Files an indexing run still had to embed when this manifest was committed: empty once a run finishes,
    # so a non-empty list means the run was interrupted and the next one resumes (rag.indexing.faiss).
    pending: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        """The manifest as JSON."""
        # Shallow copies, not dataclasses.asdict: its deep copy took 0.2 s for a thousand files.
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        fields["files"] = {name: vars(entry) for name, entry in self.files.items()}
        # One line: Python's JSON encoder runs in C only without indentation (4x faster at 10k files).
        return json.dumps(fields, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        """Parse a manifest; raises ``ValueError`` or ``TypeError`` when it is malformed."""
        raw = json.loads(text)
        if not isinstance(raw, dict):
            raise ValueError("manifest is not a JSON object")
        raw["files"] = {name: FileEntry(**entry) for name, entry in raw.get("files", {}).items()}
        return cls(**raw)

    @functools.cached_property
    def codec(self) -> VectorCodec:
        """How this index's vectors are stored (the fields it comes from are never changed in place)."""
        return VectorCodec(self.vector_storage, tuple(self.vector_ranges))


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


@dataclass
class ChunkStore:
    """The live chunks of an index and their vectors: chunk vectors in FAISS, sentence vectors by segment.

    ``chunks[i]`` is chunk row ``i``: the i-th live chunk, in segment order. ``segments`` are what is (or will
    be) on disk. Exact search runs over each segment's own FAISS index (``Segment.flat_index``), its dead
    chunks filtered out; graph search runs over one HNSW ``index`` for the whole store.
    """

    manifest: Manifest
    segments: list[Segment]
    chunks: list[Chunk]
    index: Any = None  # HNSW only: the graph (IndexHNSWFlat or IndexHNSWSQ); see VectorCodec.new_index
    manifest_sha256: str = ""  # of the manifest file this store was loaded from or saved as
    # Where each chunk row is kept: its segment's number in ``segments``, and its row in that segment.
    _segment_of: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32), repr=False)
    _local_of: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32), repr=False)
    # Per segment: the chunk row of each of its chunks (-1 for a dead one), and a filter hiding the dead ones
    # from its exact index (None when all are live).
    _rows_of: list[np.ndarray] = field(default_factory=list, repr=False)
    _segment_filters: list[Any] = field(default_factory=list, repr=False)
    _live_counts: list[int] = field(default_factory=list, repr=False)
    # HNSW only: the chunk row of each vector of the graph, -1 for a dead one; and the filter that hides those.
    graph_rows: np.ndarray | None = None
    _graph_ids: np.ndarray | None = field(default=None, repr=False)  # the inverse: each row's vector in the graph
    _live_filter: Any = field(default=None, repr=False)

    def is_current_in(self, folder: Path) -> bool:
        """Whether ``folder``'s manifest is the one this store was loaded from or saved as."""
        try:
            return bool(self.manifest_sha256) and _sha256(Path(folder) / MANIFEST) == self.manifest_sha256
        except OSError:
            return False

    @classmethod
    def assemble(
        cls, manifest: Manifest, segments: Sequence[Segment], graph: Any = None, base: ChunkStore | None = None
    ) -> ChunkStore:
        """The live view of ``segments``: the chunks whose file the manifest places in their segment.

        ``graph`` is a loaded HNSW index laid out as ``manifest.graph_layout`` says. Otherwise an HNSW graph
        is ``base``'s (the index before a refresh), copied, with the vectors of the segments it lacks added:
        a refresh costs the new chunks, not a new graph. For exact search each segment keeps its own index,
        built here only for segments that lack one. Segments are shared, not copied, so assembling after a
        refresh costs the live chunk list and the new segment, not the vectors of the others.
        """
        manifest.segments = [s.name for s in segments]
        sources_in: dict[str, set[str]] = {}
        for source, entry in manifest.files.items():
            sources_in.setdefault(entry.segment, set()).add(source)
        chunks: list[Chunk] = []
        segment_of: list[np.ndarray] = []
        local_of: list[np.ndarray] = []
        rows_of: list[np.ndarray] = []
        filters: list[Any] = []
        for number, segment in enumerate(segments):
            live_mask = segment.live(sources_in.get(segment.name, set()))
            live = np.flatnonzero(live_mask)
            rows = np.full(len(segment.chunks), -1, dtype=np.int64)
            rows[live] = np.arange(len(chunks), len(chunks) + len(live))
            rows_of.append(rows)
            if len(live) == len(segment.chunks):
                chunks.extend(segment.chunks)
                filters.append(None)
            else:
                chunks.extend([segment.chunks[i] for i in live.tolist()])
                filters.append(_selector_of(live_mask))
            segment_of.append(np.full(len(live), number, dtype=np.int32))
            local_of.append(live.astype(np.int32))
        store = cls(
            manifest,
            list(segments),
            chunks,
            _segment_of=np.concatenate(segment_of) if segment_of else np.zeros(0, dtype=np.int32),
            _local_of=np.concatenate(local_of) if local_of else np.zeros(0, dtype=np.int32),
            _rows_of=rows_of,
            _segment_filters=filters,
            _live_counts=[len(local) for local in local_of],
        )
        if manifest.index_type == "hnsw":
            store._attach_graph(graph, base, {s.name: rows for s, rows in zip(segments, rows_of, strict=True)})
        elif manifest.index_type == "flat":
            for segment in segments:
                segment.flat_index(manifest.codec)  # now, not at the first question (reused when already built)
        else:
            raise CorruptIndexError(f"unknown index type {manifest.index_type!r}")
        return store

    def _attach_graph(self, graph: Any, base: ChunkStore | None, rows_of: dict[str, np.ndarray]) -> None:
        """Set the HNSW graph (loaded, grown from ``base``'s, or new) and the map from its vectors to rows."""
        manifest, codec = self.manifest, self.manifest.codec
        layout = [list(entry) for entry in manifest.graph_layout] if graph is not None else []
        if graph is not None and not layout:
            graph = None  # a graph saved without its layout cannot be mapped to chunks: build it again
        if graph is None and base is not None and base.graph_rows is not None and base.manifest.codec == codec:
            graph = faiss.clone_index(base.index)  # readers may still search the base: never change it
            layout = [list(entry) for entry in base.manifest.graph_layout]
        if graph is None:
            graph = codec.new_index("hnsw", manifest.dimension)
        covered = {name for name, _ in layout}
        for segment in self.segments:
            if segment.name not in covered and len(segment.chunks):
                graph.add(np.ascontiguousarray(codec.decode(segment.chunk_vectors), dtype=np.float32))
                layout.append([segment.name, len(segment.chunks)])
        parts = []
        for name, count in layout:
            rows = rows_of.get(name, np.full(int(count), -1, dtype=np.int64))  # a dropped segment: all dead
            if len(rows) != count:
                raise CorruptIndexError(f"the search graph holds {count} vectors of {name}, which has {len(rows)}")
            parts.append(rows)
        graph_rows = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        if len(graph_rows) != graph.ntotal:
            raise CorruptIndexError(f"the search graph holds {graph.ntotal} vectors, its layout {len(graph_rows)}")
        if graph.d != manifest.dimension:
            raise CorruptIndexError(f"the search graph holds vectors of dimension {graph.d}, not {manifest.dimension}")
        manifest.graph_layout = layout
        self.index, self.graph_rows = graph, graph_rows
        live = graph_rows >= 0
        self._graph_ids = np.empty(len(self.chunks), dtype=np.int64)
        self._graph_ids[graph_rows[live]] = np.flatnonzero(live)
        if not live.all():
            self._live_filter = _selector_of(live)

    def with_index_type(self, index_type: str) -> ChunkStore:
        """The same chunks and vectors in a FAISS index of another type (nothing is re-embedded)."""
        manifest = dataclasses.replace(self.manifest, index_type=index_type, graph="", graph_layout=[])
        return ChunkStore.assemble(manifest, self.segments)

    def sentence_vectors_of(self, row: int) -> np.ndarray:
        """The vectors of chunk ``row``'s sentences (float16 or float32), in the order of its sentences."""
        segment, local = self.segments[self._segment_of[row]], self._local_of[row]
        return self.manifest.codec.decode(segment.sentence_vectors[list(segment.sentence_rows[local])])

    def compacted(self, codec: VectorCodec | None = None) -> ChunkStore:
        """The live chunks folded into one new segment (nothing is re-embedded).

        ``codec`` stores the vectors another way (float32 to int8); by default they keep theirs, and since
        decoding then encoding 8-bit codes with the same ranges gives the same codes, nothing drifts.
        """
        codec = codec or self.manifest.codec
        # A sentence in the overlap of two chunks has one vector, kept once: number the live sentences by
        # (segment, row in it), in chunk order, then gather their vectors one segment at a time.
        position: dict[tuple[int, int], int] = {}
        rows: list[tuple[int, ...]] = []
        for number, local in zip(self._segment_of.tolist(), self._local_of.tolist(), strict=True):
            mine = []
            for sentence_row in self.segments[number].sentence_rows[local]:
                mine.append(position.setdefault((number, sentence_row), len(position)))
            rows.append(tuple(mine))
        picks = np.array(list(position), dtype=np.int64).reshape(-1, 2)
        sentence_vectors = np.zeros((len(picks), self.manifest.dimension), dtype=np.float32)
        for number, segment in enumerate(self.segments):
            where = np.flatnonzero(picks[:, 0] == number)
            if len(where):
                sentence_vectors[where] = self.manifest.codec.decode(segment.sentence_vectors[picks[where, 1]])
        segment = Segment.new(self.chunks, self.chunk_vectors(), rows, sentence_vectors, codec)
        files = {name: dataclasses.replace(entry, segment=segment.name) for name, entry in self.manifest.files.items()}
        manifest = dataclasses.replace(
            self.manifest,
            files=files,
            graph="",
            graph_layout=[],
            checksums={},
            vector_storage=codec.storage,
            vector_ranges=list(codec.ranges),
        )
        return ChunkStore.assemble(manifest, [segment])

    def dead_chunks(self) -> int:
        """Chunks kept that no longer count (their file changed or was removed), in segments or the graph."""
        if self.graph_rows is not None:
            return max(len(self.graph_rows), sum(len(s.chunks) for s in self.segments)) - len(self.chunks)
        return sum(len(s.chunks) for s in self.segments) - len(self.chunks)

    def __len__(self) -> int:
        return len(self.chunks)

    def search(self, query_vector: Vectors, k: int) -> list[tuple[int, float]]:
        """Return up to ``k`` ``(chunk row, cosine similarity)`` pairs, best first."""
        k = min(k, len(self.chunks))
        if k == 0:
            return []
        query = query_vector.reshape(1, -1).astype(np.float32)
        if self.graph_rows is None:
            return self._search_segments(query, k)
        # Per-call parameters, not the index's own: concurrent searches must not change shared state.
        params = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]  # missing from faiss's stubs
        params.efSearch = max(HNSW_EF_SEARCH, 2 * k)
        if self._live_filter is not None:
            params.sel = self._live_filter[1]
        scores, ids = self.index.search(query, k, params=params)
        return [(int(self.graph_rows[i]), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    def _search_segments(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """Exact search: the best ``k`` of each segment's live chunks, merged."""
        codec = self.manifest.codec
        hits: list[tuple[float, int]] = []
        for segment, rows, live_filter, live in zip(
            self.segments, self._rows_of, self._segment_filters, self._live_counts, strict=True
        ):
            if not live:
                continue
            params = None
            if live_filter is not None:
                params = faiss.SearchParameters()
                params.sel = live_filter[1]
            scores, ids = segment.flat_index(codec).search(query, min(k, live), params=params)
            hits.extend((float(s), int(rows[i])) for s, i in zip(scores[0], ids[0], strict=True) if i >= 0)
        hits.sort(key=lambda hit: (-hit[0], hit[1]))  # ties in row order, as one index over all rows gives
        return [(row, score) for score, row in hits[:k]]

    def search_scope(self, query_vector: Vectors, k: int, scope: Scope) -> list[tuple[int, float]]:
        """Exact search among ``scope``'s rows only (a scoped question): up to ``k`` pairs, best first.

        Scores every row in scope, so a scope always yields ``min(k, len(rows))`` hits, where a filtered
        approximate search could return fewer.
        """
        rows = scope.rows
        if not len(rows) or k <= 0:
            return []
        scores = self.chunk_vectors(rows.tolist()) @ query_vector.reshape(-1).astype(np.float32)
        k = min(k, len(rows))
        best = np.argpartition(-scores, k - 1)[:k]
        best = best[np.lexsort((rows[best], -scores[best]))]  # ties in row order, as the full search gives
        return [(int(rows[i]), float(scores[i])) for i in best]

    def chunk_vectors(self, rows: Sequence[int] | None = None) -> Vectors:
        """Float vectors of the given chunk rows (all when None), decoded from how they are stored."""
        wanted = np.arange(len(self.chunks)) if rows is None else np.asarray(rows, dtype=np.int64)
        if not len(wanted):
            return np.zeros((0, self.manifest.dimension), dtype=np.float32)
        if self._graph_ids is not None:
            return np.asarray(self.index.reconstruct_batch(self._graph_ids[wanted]), dtype=np.float32)
        numbers, locals_ = self._segment_of[wanted], self._local_of[wanted]
        vectors = np.empty((len(wanted), self.manifest.dimension), dtype=np.float32)
        for number in np.unique(numbers).tolist():
            here = numbers == number
            stored = self.segments[number].chunk_vectors[locals_[here]]
            vectors[here] = self.manifest.codec.decode(stored)
        return vectors

    # ------------------------------------------------------------------------------------ saving

    def save(self, folder: Path, base: ChunkStore | None = None) -> None:
        """Write what is new since ``folder``'s index to it, atomically: readers see the old index or the new.

        Segments already in ``folder`` (checked by their checksums in the manifest) are not written again.
        ``base`` is the store this one was refreshed from: when ``folder`` still holds its manifest (same
        SHA-256), that manifest is not read and parsed again.

        Raises:
            OSError: The folder (or its parent) is not writable; the previous index is left as it was.
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        previous = base.manifest if base is not None and base.is_current_in(folder) else _read_manifest_or_none(folder)
        kept = set(previous.segments) if previous is not None else set()
        checksums: dict[str, str] = {}
        for segment in self.segments:
            names = [f"{segment.name}/{file}" for file in SEGMENT_FILES]
            if segment.name in kept and previous is not None and all(n in previous.checksums for n in names):
                checksums.update({n: previous.checksums[n] for n in names})
                continue
            checksums.update(_write_segment(folder, segment))
        graph = ""
        if self.manifest.index_type == "hnsw":  # FAISS writes a graph whole: there is no appending to one
            graph = f"hnsw-{uuid.uuid4().hex[:12]}.faiss"
            faiss.write_index(self.index, str(folder / graph))
            _fsync(folder / graph)
            checksums[graph] = _sha256(folder / graph)
        self.manifest.graph = graph
        self.manifest.segments = [s.name for s in self.segments]
        self.manifest.checksums = checksums
        staged = folder / f".{MANIFEST}.{os.getpid()}.tmp"
        staged.write_text(self.manifest.to_json(), encoding="utf-8")
        _fsync(staged)
        self.manifest_sha256 = _sha256(staged)
        os.replace(staged, folder / MANIFEST)  # the commit point
        _remove_unreferenced(folder, self.manifest, previous)
        logger.debug("saved index with %d chunks in %d segment(s) to %s", len(self.chunks), len(self.segments), folder)

    # ----------------------------------------------------------------------------------- loading

    @classmethod
    def load(cls, folder: Path) -> ChunkStore:
        """Read and verify the index in ``folder``.

        Raises:
            IndexNotFoundError: ``folder`` holds no index.
            IndexVersionError: The index was written by a newer version of rag.
            CorruptIndexError: A file is missing, truncated, edited, or from an older format.
        """
        with _collector_paused():
            return cls._load(Path(folder))

    @classmethod
    def _load(cls, folder: Path) -> ChunkStore:
        manifest_path = folder / MANIFEST
        if not manifest_path.is_file():
            raise IndexNotFoundError(f"no index in {folder} (no {MANIFEST})")
        try:
            raw_version = json.loads(manifest_path.read_text(encoding="utf-8")).get("format_version", 0)
        except (OSError, ValueError, AttributeError) as exc:
            raise CorruptIndexError(f"{manifest_path} cannot be read: {exc}") from exc
        if isinstance(raw_version, int) and raw_version > FORMAT_VERSION:
            raise IndexVersionError(
                f"{folder} was written by a newer version of rag (index format {raw_version}, "
                f"this version reads up to {FORMAT_VERSION}); upgrade rag, or rebuild with 'rag index --rebuild'"
            )
        if raw_version != FORMAT_VERSION:
            raise IndexOutdatedError(
                f"{folder} is in index format {raw_version!r}, from an older version of rag (this one writes "
                f"format {FORMAT_VERSION}: {FORMAT_CHANGES.get(FORMAT_VERSION, 'a new layout')})"
            )
        try:
            text = manifest_path.read_text(encoding="utf-8")
            manifest = Manifest.from_json(text)
        except (OSError, ValueError, TypeError) as exc:
            raise CorruptIndexError(f"{manifest_path} cannot be read: {exc}") from exc
        data_files = [f"{s}/{f}" for s in manifest.segments for f in SEGMENT_FILES]
        if manifest.index_type == "hnsw":
            data_files.append(manifest.graph)
        for name in data_files:
            path = folder / name
            if not name or not path.is_file():
                raise CorruptIndexError(f"{path} is missing")
            expected = manifest.checksums.get(name)
            if expected is None or _sha256(path) != expected:
                raise CorruptIndexError(f"{path} does not match its checksum in {MANIFEST} (truncated or edited)")
        if manifest.vector_storage not in {"float32", "int8"} or (
            manifest.vector_storage == "int8" and len(manifest.vector_ranges) != 2 * manifest.dimension
        ):
            raise CorruptIndexError(f"{folder} is inconsistent: vector storage {manifest.vector_storage!r} is unknown")
        try:
            segments = [_read_segment(folder, name, manifest.codec) for name in manifest.segments]
            graph = faiss.read_index(str(folder / manifest.graph)) if manifest.index_type == "hnsw" else None
        except (OSError, RuntimeError, ValueError, KeyError, TypeError) as exc:
            raise CorruptIndexError(f"{folder} cannot be read: {exc}") from exc
        _check_segments(folder, manifest, segments)
        if manifest.index_type not in {"flat", "hnsw"}:
            raise CorruptIndexError(f"{folder} is inconsistent: unknown index type {manifest.index_type!r}")
        try:
            store = cls.assemble(manifest, segments, graph)
        except CorruptIndexError as exc:
            raise CorruptIndexError(f"{folder} is inconsistent: {exc}") from exc
        store.manifest_sha256 = hashlib.sha256(text.encode("utf-8")).hexdigest()
        return store


def _selector_of(live: np.ndarray) -> tuple[np.ndarray, Any]:
    """A FAISS filter that lets through the vectors where ``live`` is True, with the bitmap it reads.

    The bitmap is returned to be kept alongside: the filter points into it without owning it.
    """
    bitmap = np.packbits(live, bitorder="little")
    return bitmap, faiss.IDSelectorBitmap(len(live), faiss.swig_ptr(bitmap))


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while millions of acyclic objects are made.

    Loading an index creates a few objects per sentence, and each collection pass that runs meanwhile walks
    all of them again. Nothing made here forms a cycle, so there is nothing for it to find.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _write_segment(folder: Path, segment: Segment) -> dict[str, str]:
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
        _fsync(target / name)
    return {f"{segment.name}/{name}": _sha256(target / name) for name in SEGMENT_FILES}


def _read_segment(folder: Path, name: str, codec: VectorCodec) -> Segment:
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


def _check_segments(folder: Path, manifest: Manifest, segments: list[Segment]) -> None:
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


def _read_manifest_or_none(folder: Path) -> Manifest | None:
    try:
        return Manifest.from_json((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError):
        return None


def _remove_unreferenced(folder: Path, manifest: Manifest, previous: Manifest | None) -> None:
    """Delete what neither the new manifest nor the one before it references.

    The previous manifest's files are kept one more save, so that a reader that read it just before the
    swap can still load them.
    """
    keep = {MANIFEST, *manifest.segments, manifest.graph}
    if previous is not None:
        keep |= {*previous.segments, previous.graph}
    for path in folder.iterdir():
        if path.name in keep or path.name.endswith(".lock"):
            continue
        if (
            path.name.startswith(("seg-", "hnsw-"))
            or path.name in _FORMAT_1_FILES
            or (path.name.startswith(f".{MANIFEST}.") and _stale(path))
        ):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def _stale(path: Path) -> bool:
    """A staged manifest whose writer is gone (its pid no longer runs)."""
    try:
        pid = int(path.name.split(".")[-2])
        os.kill(pid, 0)
    except (ValueError, ProcessLookupError):
        return True
    except PermissionError:
        return False
    return False


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    with open(path, "rb") as file:
        os.fsync(file.fileno())
