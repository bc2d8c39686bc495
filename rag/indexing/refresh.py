"""What a refresh must do, for either store: the docs folder scanned, compared with the index's manifest.

``scan_docs`` hashes every document of the docs folder, reading only the files whose size or time changed
since the index recorded them (git's "racily clean" rule guards the clock's granularity). ``plan_refresh``
compares those hashes, the index type and the vector storage with the manifest and says what to embed again,
remove or re-index; ``setting_changes`` names the embedding and chunking settings that differ, which force a
rebuild. The FAISS job (``rag.indexing.faiss``) and the Postgres job (``rag.indexing.postgres``) both run
exactly this code, so the same folder refreshes the same way on either backend. ``IndexReport`` is what a
run did.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rag.config import Settings
from rag.embeddings import Embedder
from rag.errors import DocumentError
from rag.ingest.documents import (
    Document,
    DocumentFile,
    check_docs_folder,
    list_document_files,
    load_document,
    read_documents,
)
from rag.ingest.readers.base import READER_VERSION, ReadOptions
from rag.stores.manifest import SENTENCE_VECTORS, Manifest

__all__ = [
    "Corpus",
    "IndexReport",
    "plan_refresh",
    "resolve_index_type",
    "resolve_vector_storage",
    "scan_docs",
    "setting_changes",
]

logger = logging.getLogger(__name__)


# A file modified less than this long before it was hashed is read again at the next refresh, whatever its
# size and time say: a later write within the same tick of the file system's clock would look the same.
RACY_S = 2.0


@dataclass
class IndexReport:
    """What a sync (``sync_index``, ``sync_postgres``) did, for logs, the CLI and tests."""

    action: str  # "reused", "refreshed" or "built"
    reason: str = ""
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    embedded_chunks: int = 0
    total_chunks: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # files not indexed: (name, reason)
    # Files whose new version could not be read: their previous version stays indexed. (name, why)
    kept: list[tuple[str, str]] = field(default_factory=list)
    # When this run finished an interrupted one: (files, chunks) that run had already committed.
    resumed: tuple[int, int] | None = None

    def summary(self, *, with_skipped: bool = True) -> str:
        """For humans: ``refreshed index: 1 changed, 1 added (3 chunks embedded, 11 in all)``.

        With ``with_skipped``, one more line per file not indexed, with its reason.
        """
        parts = [
            f"{len(v)} {k}"
            for k, v in (("changed", self.changed), ("added", self.added), ("removed", self.removed))
            if v
        ]
        detail = ", ".join(parts) or self.reason
        line = f"{self.action} index: {detail} ({self.embedded_chunks} chunks embedded, {self.total_chunks} in all)"
        if self.resumed is not None:
            line = (
                f"resumed an interrupted run ({self.resumed[0]} file(s), {self.resumed[1]} chunks were already "
                f"indexed); {line}"
            )
        for name, why in self.kept:
            line += f"; kept the previous version of {name}: {why}"
        if self.skipped and with_skipped:
            line += f"\n{len(self.skipped)} file(s) not indexed:" + "".join(
                f"\n  {name}: {reason}" for name, reason in self.skipped
            )
        return line


def resolve_index_type(settings: Settings, chunks: int) -> str:
    """The FAISS index type for ``chunks`` chunks: the setting, or by size when it is ``"auto"``."""
    if settings.index_type != "auto":
        return settings.index_type
    return "hnsw" if chunks >= settings.hnsw_threshold else "flat"


def resolve_vector_storage(settings: Settings, manifest: Manifest | None) -> str:
    """How vectors are to be stored: the setting, or when it is ``"auto"`` what the index has (else float32)."""
    if settings.vector_storage != "auto":
        return settings.vector_storage
    return manifest.vector_storage if manifest is not None else "float32"


def plan_refresh(
    settings: Settings, manifest: Manifest, corpus: Corpus, reindex: Sequence[str] = ()
) -> IndexReport | None:
    """What a refresh of the index ``manifest`` describes must do for ``corpus``; None when it can be used as is."""
    wanted_type = resolve_index_type(settings, sum(e.chunks for e in manifest.files.values()))
    current = corpus.hashes
    indexed = {name: entry.sha256 for name, entry in manifest.files.items()}
    forced = set(reindex) & set(current) & set(indexed)
    report = IndexReport(
        "refreshed",
        added=sorted(set(current) - set(indexed)),
        removed=sorted(set(indexed) - set(current)),
        changed=sorted(
            name for name in set(current) & set(indexed) if current[name] != indexed[name] or name in forced
        ),
    )
    if not (report.added or report.removed or report.changed):
        storage, wanted_storage = manifest.vector_storage, resolve_vector_storage(settings, manifest)
        if manifest.index_type == wanted_type and storage == wanted_storage:
            # Files read again only because their recorded time was too recent to trust (say, copied in
            # just before the first build) get their time recorded now, or every refresh would read them.
            stamped = _newly_trusted(manifest, corpus)
            if not stamped:
                return None
            report.reason = f"recorded the size and time of {len(stamped)} unchanged file(s)"
            return report
        report.reason = (
            f"index type {manifest.index_type} -> {wanted_type}"
            if storage == wanted_storage
            else f"vector storage {storage} -> {wanted_storage}"
        )
        logger.info("re-indexing the stored vectors: %s", report.reason)
    logger.info(
        "documents changed since the index was built: %s",
        "; ".join(
            f"{k}: {', '.join(v)}"
            for k, v in (("added", report.added), ("changed", report.changed), ("removed", report.removed))
            if v
        ),
    )
    return report


def _newly_trusted(manifest: Manifest, corpus: Corpus) -> list[str]:
    """Files read again though unchanged whose size and time can now be recorded, and were not."""
    stamped = []
    for source, (size, mtime_ns) in corpus.stamps.items():
        entry = manifest.files[source]
        if mtime_ns >= 0 and (entry.size, entry.mtime_ns) != (size, mtime_ns):
            stamped.append(source)
    return stamped


@dataclass
class Corpus:
    """The documents as indexing sees them: each one's SHA-256, and its text where it had to be read.

    ``stamps`` holds ``(size, mtime_ns)`` of the files read from the docs folder, for the manifest.
    """

    hashes: dict[str, str]
    read: dict[str, Document]
    files: dict[str, DocumentFile] = field(default_factory=dict)
    stamps: dict[str, tuple[int, int]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # files not indexed -> why
    options: ReadOptions = field(default_factory=ReadOptions)
    kept: dict[str, str] = field(default_factory=dict)  # unreadable now, indexed before: name -> why

    @classmethod
    def of(cls, documents: Sequence[Document]) -> Corpus:
        """Documents given in memory: all read, nothing to stamp."""
        return cls({d.source: d.sha256 for d in documents}, {d.source: d for d in documents})

    def document(self, source: str) -> Document:
        """The document ``source``, read now if the scan did not need to."""
        doc = self.read.get(source)
        if doc is None:
            doc = load_document(self.files[source].path, source, options=self.options)
            if doc.sha256 != self.hashes[source]:
                raise DocumentError(
                    f"{source} changed while it was being indexed; index again", self.files[source].path
                )
            self.read[source] = doc  # kept: its entry in the manifest and its stored text need it again
        return doc


def scan_docs(folder: Path, manifest: Manifest | None, options: ReadOptions, index_dir: Path | None = None) -> Corpus:
    """Hash every document of ``folder``, reading only files whose size or time differ from the index's manifest.

    A file is trusted unread only when the index recorded its size and modification time, and the time
    was at least ``RACY_S`` older than the moment it was hashed, so that a write in the same clock tick as
    the hashing is never missed (git's "racily clean" rule).

    Raises:
        DocumentError: The folder does not exist, or holds no readable document.
    """
    folder = check_docs_folder(folder)
    known = manifest.files if manifest is not None else {}
    scanned_at = time.time_ns()
    corpus = Corpus({}, {}, options=options)
    unknown: list[DocumentFile] = []
    # An index kept inside the docs folder is not a document (its files would all be "unsupported").
    index_prefix = _relative_prefix(index_dir, folder) if index_dir is not None else None
    known_skipped = manifest.skipped if manifest is not None else {}
    for file in list_document_files(folder, corpus.skipped, known_skipped):
        if index_prefix is not None and file.source.startswith(index_prefix):
            continue
        corpus.files[file.source] = file
        entry = known.get(file.source)
        if entry is not None and entry.mtime_ns >= 0 and (entry.size, entry.mtime_ns) == (file.size, file.mtime_ns):
            corpus.hashes[file.source] = entry.sha256
        else:
            unknown.append(file)
    also_known = len(corpus.hashes) + sum(1 for file in unknown if file.source in known)
    if not unknown and not also_known and manifest is not None:
        # Every document was deleted: the index empties too, or deleted files would go on being cited.
        logger.warning("%s holds no documents any more; the index is emptied", folder)
        return corpus
    read = read_documents(
        folder, unknown, also_known=also_known, skipped=corpus.skipped, known_skipped=known_skipped, options=options
    )
    for doc in read:
        file = corpus.files[doc.source]
        corpus.hashes[doc.source], corpus.read[doc.source] = doc.sha256, doc
        trusted = scanned_at - file.mtime_ns >= RACY_S * 1e9
        corpus.stamps[doc.source] = (file.size, file.mtime_ns) if trusted else (-1, -1)
    for file in unknown:
        entry = known.get(file.source)
        if file.source not in corpus.hashes and entry is not None:
            # Its new version cannot be read (half written, broken): keep the previous one searchable rather
            # than dropping the file, and say why. Its stamp differs, so the next scan tries it again.
            corpus.hashes[file.source] = entry.sha256
            corpus.kept[file.source] = corpus.skipped.pop(file.source, "") or _why_unreadable(file)
    logger.debug("%d document(s) in %s, %d read", len(corpus.hashes), folder, len(corpus.read))
    return corpus


def _relative_prefix(inner: Path, folder: Path) -> str | None:
    """``inner``'s path relative to ``folder`` as a source-name prefix ("index/"); None when it lies outside."""
    try:
        relative = inner.resolve().relative_to(folder.resolve())
    except ValueError:
        return None
    return f"{relative.as_posix()}/" if relative.parts else None


def _why_unreadable(file: DocumentFile) -> str:
    try:
        load_document(file.path, file.source)
    except DocumentError as exc:
        return str(exc)
    return "it changed while it was being read"


def setting_changes(manifest: Manifest, settings: Settings, embedder: Embedder) -> str:
    """The embedding and chunking settings that differ from those the index was built with ("" when none).

    Any of them forces a rebuild: ``chunk_size 800 -> 500, embedding_model 'a' -> 'b'``.
    """
    pairs = [
        ("embedding_model", manifest.embedding_model, embedder.name),
        ("dimension", manifest.dimension, embedder.dimension),
        ("chunk_size", manifest.chunk_size, settings.chunk_size),
        ("chunk_overlap", manifest.chunk_overlap, settings.chunk_overlap),
        ("sentence_vectors", manifest.sentence_vectors, SENTENCE_VECTORS),
        ("readers", manifest.readers, READER_VERSION),  # files read by older readers are read again
    ]
    if manifest.vector_storage == "int8" and settings.vector_storage == "float32":
        # 8-bit codes cannot give the float32 vectors back: only embedding again can.
        pairs.append(("vector_storage", manifest.vector_storage, settings.vector_storage))
    return ", ".join(f"{name} {old!r} -> {new!r}" for name, old, new in pairs if old != new)
