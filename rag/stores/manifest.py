"""What an index records of itself: the settings it was built with and, for each source file, what it holds.

Both stores keep one (the FAISS index as ``manifest.json``, Postgres in its ``rag_meta`` and ``files`` tables),
and the refresh check (``rag.indexing.refresh``) compares it with the docs folder and the settings, so the
same code decides what to re-embed for either backend.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from dataclasses import dataclass, field
from typing import Any

from rag.stores.codec import VectorCodec

__all__ = ["FORMAT_VERSION", "MANIFEST", "SENTENCE_VECTORS", "FileEntry", "Manifest"]


# Of the FAISS index folder (rag.stores.faiss); the Postgres tables have their own. Bumped whenever the manifest
# gains a field: an older rag then refuses the folder as newer (IndexVersionError) instead of failing to parse
# it, calling it corrupt and rebuilding over it.
FORMAT_VERSION = 4
# What each format brought, for the log line that says why an older index is rebuilt.
FORMAT_CHANGES = {
    3: "chunks carry their page, page label and section; the manifest lists skipped files",
    4: "the manifest records the version of the readers that read the files",
}
MANIFEST = "manifest.json"
# Sentence vectors are pooled from the token vectors of their chunk ("late chunking"), the chunk read under
# its section's title (``rag.indexing.sentences.embedding_inputs``); an index whose sentences were embedded on
# their own ("separate") or in a chunk without its title ("pooled-in-chunk") is rebuilt, since the answerer is
# calibrated for these.
SENTENCE_VECTORS = "pooled-in-chunk-under-section"


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
    readers: int = 0  # the version of the readers that read the files (READER_VERSION); 0 before it was kept
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
