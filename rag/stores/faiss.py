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

Vectors are kept as floats, or scalar-quantized to one byte per dimension (``rag.stores.codec.VectorCodec``):
a quarter of float32's size on disk and in memory, searched by FAISS over the codes themselves.

In memory, a ``ChunkStore`` is the live view: live chunks in segment order, their vectors in a FAISS index
(exact search: ``IndexFlatIP`` or ``IndexScalarQuantizer``; graph search: ``IndexHNSWFlat`` or
``IndexHNSWSQ``), and the segments themselves for sentence vectors. This module owns that view, and saving and
loading it; a segment's files are ``rag.stores.segments``, the manifest ``rag.stores.manifest``.
"""

from __future__ import annotations

import contextlib
import dataclasses
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
from typing import Any

import faiss
import numpy as np

from rag.embeddings import Vectors
from rag.errors import CorruptIndexError, IndexNotFoundError, IndexOutdatedError, IndexVersionError
from rag.ingest.chunking import Chunk
from rag.stores.base import Scope
from rag.stores.codec import HNSW_EF_SEARCH, VectorCodec
from rag.stores.manifest import FORMAT_CHANGES, FORMAT_VERSION, MANIFEST, Manifest
from rag.stores.segments import (
    CHUNKS,
    SEGMENT_FILES,
    SENTENCES,
    Segment,
    check_segments,
    file_sha256,
    fsync_file,
    read_segment,
    write_segment,
)

__all__ = ["ChunkStore"]

logger = logging.getLogger(__name__)

_FORMAT_1_FILES = {"vectors.faiss", CHUNKS, SENTENCES}  # left by an index of format 1, replaced in place


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
            return bool(self.manifest_sha256) and file_sha256(Path(folder) / MANIFEST) == self.manifest_sha256
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

    def sentence_vectors(self, rows: Sequence[int]) -> list[np.ndarray]:
        """``sentence_vectors_of`` each of ``rows``: they are in memory already."""
        return [self.sentence_vectors_of(row) for row in rows]

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
            checksums.update(write_segment(folder, segment))
        graph = ""
        if self.manifest.index_type == "hnsw":  # FAISS writes a graph whole: there is no appending to one
            graph = f"hnsw-{uuid.uuid4().hex[:12]}.faiss"
            faiss.write_index(self.index, str(folder / graph))
            fsync_file(folder / graph)
            checksums[graph] = file_sha256(folder / graph)
        self.manifest.graph = graph
        self.manifest.segments = [s.name for s in self.segments]
        self.manifest.checksums = checksums
        staged = folder / f".{MANIFEST}.{os.getpid()}.tmp"
        staged.write_text(self.manifest.to_json(), encoding="utf-8")
        fsync_file(staged)
        self.manifest_sha256 = file_sha256(staged)
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
            if expected is None or file_sha256(path) != expected:
                raise CorruptIndexError(f"{path} does not match its checksum in {MANIFEST} (truncated or edited)")
        if manifest.vector_storage not in {"float32", "int8"} or (
            manifest.vector_storage == "int8" and len(manifest.vector_ranges) != 2 * manifest.dimension
        ):
            raise CorruptIndexError(f"{folder} is inconsistent: vector storage {manifest.vector_storage!r} is unknown")
        try:
            segments = [read_segment(folder, name, manifest.codec) for name in manifest.segments]
            graph = faiss.read_index(str(folder / manifest.graph)) if manifest.index_type == "hnsw" else None
        except (OSError, RuntimeError, ValueError, KeyError, TypeError) as exc:
            raise CorruptIndexError(f"{folder} cannot be read: {exc}") from exc
        check_segments(folder, manifest, segments)
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
