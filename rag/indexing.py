"""Keeping an index in step with its docs folder: build it, refresh only what changed, never twice at once.

``sync_index`` is the one entry point. It compares the SHA-256 of every document with the manifest and
the embedding/chunking settings with the ones the index was built with, then:

- nothing changed: the index is used as it is, nothing is written;
- files changed, were added or removed: only those files are chunked and embedded again, the vectors of
  the others are reused;
- a setting changed, or the index is corrupt: everything is rebuilt, and the log says why.

Writers take a file lock beside the index folder, so two processes indexing the same folder wait for each
other instead of corrupting it.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from filelock import FileLock, Timeout

from rag.chunking import Chunk, Sentence, chunk_document
from rag.config import Settings
from rag.documents import (
    Document,
    DocumentFile,
    check_docs_folder,
    list_document_files,
    load_document,
    read_documents,
)
from rag.embeddings import Embedder
from rag.errors import (
    CorruptIndexError,
    DocumentError,
    IndexLockedError,
    IndexNotFoundError,
    IndexOutdatedError,
    IndexVersionError,
    RagError,
)
from rag.readers import PageSpan
from rag.store import SENTENCE_VECTORS, ChunkStore, FileEntry, Manifest, Segment, VectorCodec

__all__ = ["IndexReport", "extracted_text_path", "stored_pages", "stored_text", "sync_index"]

logger = logging.getLogger(__name__)
# The summary of what indexing did has a logger of its own, so that ``rag index``, which prints the summary
# as its output, can mute it instead of showing the line twice.
SUMMARY_LOGGER = f"{__name__}.summary"

LOCK_TIMEOUT_S = 600.0
# A refresh adds a segment; past this many segments, or when dead chunks (of changed or removed files) pass
# this share of the live ones, the index is compacted into one segment (a rewrite, no re-embedding).
MAX_SEGMENTS = 16
MAX_DEAD_SHARE = 0.25
# A file modified less than this long before it was hashed is read again at the next refresh, whatever its
# size and time say: a later write within the same tick of the file system's clock would look the same.
RACY_S = 2.0


@dataclass
class IndexReport:
    """What ``sync_index`` did, for logs, the CLI and tests."""

    action: str  # "reused", "refreshed" or "built"
    reason: str = ""
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    embedded_chunks: int = 0
    total_chunks: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # files not indexed: (name, reason)

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
        if self.skipped and with_skipped:
            line += f"\n{len(self.skipped)} file(s) not indexed:" + "".join(
                f"\n  {name}: {reason}" for name, reason in self.skipped
            )
        return line


def sync_index(
    settings: Settings,
    embedder: Embedder,
    *,
    documents: Sequence[Document] | None = None,
    rebuild: bool = False,
    progress: bool = True,
    current: ChunkStore | None = None,
) -> tuple[ChunkStore, IndexReport]:
    """Make the index in ``settings.index_dir`` match the documents, and return it.

    Args:
        settings: Where the docs and the index are, and how to chunk.
        embedder: The model that embeds chunks and sentences.
        documents: The documents to index; read from ``settings.docs_dir`` when None.
        rebuild: Re-embed everything even if the index is up to date.
        progress: Show a progress bar while embedding.
        current: The index as already loaded (a running bot's): used instead of reading the folder again
            when the folder's manifest is still the one it was loaded from.

    Raises:
        DocumentError: The docs folder is missing or holds no readable document.
        IndexVersionError: The index is from a newer version of rag (it is not overwritten).
        IndexLockedError: Another process held the index lock for longer than 10 minutes.
        RagError: The index folder cannot be written.
    """
    store, report = (None, IndexReport("built", "rebuild requested")) if rebuild else _open(settings, embedder, current)
    if documents is not None:
        corpus = _Corpus.of(documents)
    else:
        corpus = _scan(settings.docs_dir, store, settings.ocr, settings.index_dir)
    if store is not None:
        report = _compare(settings, store, corpus)
        if report is None and store.manifest.skipped == corpus.skipped:
            return store, _reused(store, corpus)
    lock = FileLock(str(_lock_path(settings.index_dir)))
    try:
        with lock.acquire(timeout=LOCK_TIMEOUT_S):
            # Check again under the lock: another process may have brought the index up to date meanwhile.
            if not rebuild:
                # A problem the first look already reported is not logged again.
                store, report = _open(settings, embedder, store or current, log=store is not None)
                if store is not None:
                    report = _compare(settings, store, corpus)
                    if report is None:
                        if store.manifest.skipped != corpus.skipped:
                            # The chunks are as they were; only the list of skipped files is recorded, so
                            # each reason is reported once, when found.
                            store.manifest.skipped = dict(corpus.skipped)
                            _save(store, settings.index_dir, base=store)
                        return store, _reused(store, corpus)
            assert report is not None
            base = store if report.action == "refreshed" else None
            new_store = _update(settings, embedder, corpus, base, report, progress)
            _save(new_store, settings.index_dir, base=base)
            save_extracted_texts(settings.index_dir, corpus, new_store.manifest)
    except Timeout:
        raise IndexLockedError(
            f"another process has been writing the index in {settings.index_dir} for over "
            f"{LOCK_TIMEOUT_S:.0f} s (lock file {lock.lock_file})"
        ) from None
    report.total_chunks = len(new_store)
    report.skipped = sorted(corpus.skipped.items())
    # Skipped files were logged when found; this logger is muted by `rag index`, which prints the summary.
    logging.getLogger(SUMMARY_LOGGER).info("%s", report.summary(with_skipped=False))
    return new_store, report


def _reused(store: ChunkStore, corpus: _Corpus) -> IndexReport:
    return IndexReport("reused", "up to date", total_chunks=len(store), skipped=sorted(corpus.skipped.items()))


def _save(store: ChunkStore, folder: Path, base: ChunkStore | None) -> None:
    try:
        store.save(folder, base=base)
    except OSError as exc:
        raise RagError(
            f"cannot write the index to {folder}: {exc.strerror or exc}; "
            "check that the folder is writable and the disk is not full"
        ) from exc


EXTRACTED = "extracted"


def extracted_text_path(index_dir: Path, sha256: str) -> Path:
    """Where the index keeps the text extracted from a file (PDF, Word, HTML) whose bytes hash to ``sha256``."""
    return Path(index_dir) / EXTRACTED / f"{sha256}.txt"


def stored_text(settings: Settings, manifest: Manifest, source: str) -> str:
    """The extracted text of the indexed document ``source``: stored with the index, or the text file itself.

    Raises:
        DocumentError: ``source`` is not indexed, or its text cannot be read.
    """
    entry = manifest.files.get(source)
    if entry is None:
        raise DocumentError(f"{source} is not indexed", source)
    path = extracted_text_path(settings.index_dir, entry.sha256)
    try:
        if entry.kind not in {"", "text"}:
            with open(path, encoding="utf-8", newline="") as file:  # line ends as written: offsets count them
                return file.read()
        return load_document(settings.docs_dir / source, source).text
    except OSError as exc:
        raise DocumentError(f"cannot read the text of {source}: {exc.strerror or exc}", path) from exc


def stored_pages(settings: Settings, manifest: Manifest, source: str) -> tuple[PageSpan, ...]:
    """The page spans over the extracted text of ``source`` (empty for formats without pages)."""
    entry = manifest.files.get(source)
    if entry is None or not entry.pages:
        return ()
    path = extracted_text_path(settings.index_dir, entry.sha256).with_suffix(".pages.json")
    try:
        return tuple(PageSpan(int(s), int(e), int(n), label) for s, e, n, label in json.loads(path.read_text()))
    except (OSError, ValueError, TypeError) as exc:
        raise DocumentError(f"cannot read the pages of {source}: {exc}", path) from exc


def _write_atomically(path: Path, text: str) -> None:
    staged = path.with_name(f".{path.name}.tmp")
    with open(staged, "w", encoding="utf-8", newline="") as file:
        file.write(text)
    staged.replace(path)


def save_extracted_texts(index_dir: Path, corpus: _Corpus, manifest: Manifest) -> None:
    """Store the extracted text of every newly read non-text document; drop texts no file refers to any more.

    Offsets of chunks and citations point into this text: ``text[start:end] == citation.text``. Plain text
    files are their own extracted text, so they are not copied. Files are named by the SHA-256 of the
    source file's bytes, so an unchanged file's text is written once.
    """
    folder = Path(index_dir) / EXTRACTED
    for doc in corpus.read.values():
        if doc.kind == "text" or doc.source not in manifest.files:
            continue
        path = extracted_text_path(index_dir, doc.sha256)
        if not path.exists():
            folder.mkdir(parents=True, exist_ok=True)
            if doc.pages:  # written first: a text file present means its pages are too
                pages = [[p.start, p.end, p.number, p.label] for p in doc.pages]
                _write_atomically(path.with_suffix(".pages.json"), json.dumps(pages))
            _write_atomically(path, doc.text)
    if folder.is_dir():
        wanted = {f"{entry.sha256}{suffix}" for entry in manifest.files.values() for suffix in (".txt", ".pages.json")}
        for path in folder.iterdir():
            if path.name not in wanted and not path.name.startswith("."):
                path.unlink(missing_ok=True)


def resolve_index_type(settings: Settings, chunks: int) -> str:
    """The FAISS index type for ``chunks`` chunks: the setting, or by size when it is ``"auto"``."""
    if settings.index_type != "auto":
        return settings.index_type
    return "hnsw" if chunks >= settings.hnsw_threshold else "flat"


def resolve_vector_storage(settings: Settings, store: ChunkStore | None) -> str:
    """How vectors are to be stored: the setting, or when it is ``"auto"`` what the index has (else float32)."""
    if settings.vector_storage != "auto":
        return settings.vector_storage
    return store.manifest.vector_storage if store is not None else "float32"


def _lock_path(index_dir: Path) -> Path:
    index_dir.parent.mkdir(parents=True, exist_ok=True)
    return index_dir.with_name(f".{index_dir.name}.lock")


def _open(
    settings: Settings, embedder: Embedder, known: ChunkStore | None = None, *, log: bool = True
) -> tuple[ChunkStore | None, IndexReport | None]:
    """The index (``known``, if still current, else read from disk), or None and why it must be built."""
    try:
        store = known if known is not None and known.is_current_in(settings.index_dir) else None
        store = store or ChunkStore.load(settings.index_dir)
    except IndexNotFoundError:
        return None, IndexReport("built", f"no index in {settings.index_dir} yet")
    except IndexVersionError:
        raise  # written by a newer rag: never overwrite it
    except IndexOutdatedError as exc:
        logger.info("rebuilding the index: %s", exc)  # an upgrade, not a fault
        return None, IndexReport("built", f"the previous index was unusable: {exc}")
    except CorruptIndexError as exc:
        if log:
            logger.warning("the index is unusable (%s); rebuilding it", exc)
        return None, IndexReport("built", f"the previous index was unusable: {exc}")
    setting_changes = _setting_changes(store.manifest, settings, embedder)
    if setting_changes:
        if log:
            logger.info("settings changed since the index was built (%s); rebuilding", setting_changes)
        return None, IndexReport("built", f"settings changed: {setting_changes}")
    return store, None


def _compare(settings: Settings, store: ChunkStore, corpus: _Corpus) -> IndexReport | None:
    """What a refresh of ``store`` must do for ``corpus``; None when the index can be used as it is."""
    wanted_type = resolve_index_type(settings, sum(e.chunks for e in store.manifest.files.values()))
    current = corpus.hashes
    indexed = {name: entry.sha256 for name, entry in store.manifest.files.items()}
    report = IndexReport(
        "refreshed",
        added=sorted(set(current) - set(indexed)),
        removed=sorted(set(indexed) - set(current)),
        changed=sorted(name for name in set(current) & set(indexed) if current[name] != indexed[name]),
    )
    if not (report.added or report.removed or report.changed):
        storage, wanted_storage = store.manifest.vector_storage, resolve_vector_storage(settings, store)
        if store.manifest.index_type == wanted_type and storage == wanted_storage:
            # Files read again only because their recorded time was too recent to trust (say, copied in
            # just before the first build) get their time recorded now, or every refresh would read them.
            stamped = _newly_trusted(store, corpus)
            if not stamped:
                return None
            report.reason = f"recorded the size and time of {len(stamped)} unchanged file(s)"
            return report
        report.reason = (
            f"index type {store.manifest.index_type} -> {wanted_type}"
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


def _newly_trusted(store: ChunkStore, corpus: _Corpus) -> list[str]:
    """Files read again though unchanged whose size and time can now be recorded, and were not."""
    stamped = []
    for source, (size, mtime_ns) in corpus.stamps.items():
        entry = store.manifest.files[source]
        if mtime_ns >= 0 and (entry.size, entry.mtime_ns) != (size, mtime_ns):
            stamped.append(source)
    return stamped


@dataclass
class _Corpus:
    """The documents as indexing sees them: each one's SHA-256, and its text where it had to be read.

    ``stamps`` holds ``(size, mtime_ns)`` of the files read from the docs folder, for the manifest.
    """

    hashes: dict[str, str]
    read: dict[str, Document]
    files: dict[str, DocumentFile] = field(default_factory=dict)
    stamps: dict[str, tuple[int, int]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # files not indexed -> why
    ocr: str = "auto"

    @classmethod
    def of(cls, documents: Sequence[Document]) -> _Corpus:
        """Documents given in memory: all read, nothing to stamp."""
        return cls({d.source: d.sha256 for d in documents}, {d.source: d for d in documents})

    def document(self, source: str) -> Document:
        """The document ``source``, read now if the scan did not need to."""
        doc = self.read.get(source)
        if doc is None:
            doc = load_document(self.files[source].path, source, ocr=self.ocr)
            if doc.sha256 != self.hashes[source]:
                raise DocumentError(
                    f"{source} changed while it was being indexed; index again", self.files[source].path
                )
            self.read[source] = doc  # kept: its entry in the manifest and its stored text need it again
        return doc


def _scan(folder: Path, store: ChunkStore | None, ocr: str = "auto", index_dir: Path | None = None) -> _Corpus:
    """Hash every document of ``folder``, reading only files whose size or time differ from the index's.

    A file is trusted unread only when the index recorded its size and modification time, and the time
    was at least ``RACY_S`` older than the moment it was hashed, so that a write in the same clock tick as
    the hashing is never missed (git's "racily clean" rule).

    Raises:
        DocumentError: The folder does not exist, or holds no readable document.
    """
    folder = check_docs_folder(folder)
    known = store.manifest.files if store is not None else {}
    scanned_at = time.time_ns()
    corpus = _Corpus({}, {}, ocr=ocr)
    unknown: list[DocumentFile] = []
    # An index kept inside the docs folder is not a document (its files would all be "unsupported").
    index_prefix = _relative_prefix(index_dir, folder) if index_dir is not None else None
    for file in list_document_files(folder):
        if index_prefix is not None and file.source.startswith(index_prefix):
            continue
        corpus.files[file.source] = file
        entry = known.get(file.source)
        if entry is not None and entry.mtime_ns >= 0 and (entry.size, entry.mtime_ns) == (file.size, file.mtime_ns):
            corpus.hashes[file.source] = entry.sha256
        else:
            unknown.append(file)
    known_skipped = store.manifest.skipped if store is not None else {}
    read = read_documents(
        folder, unknown, also_known=len(corpus.hashes), skipped=corpus.skipped, known_skipped=known_skipped, ocr=ocr
    )
    for doc in read:
        file = corpus.files[doc.source]
        corpus.hashes[doc.source], corpus.read[doc.source] = doc.sha256, doc
        trusted = scanned_at - file.mtime_ns >= RACY_S * 1e9
        corpus.stamps[doc.source] = (file.size, file.mtime_ns) if trusted else (-1, -1)
    logger.debug("%d document(s) in %s, %d read", len(corpus.hashes), folder, len(corpus.read))
    return corpus


def _relative_prefix(inner: Path, folder: Path) -> str | None:
    """``inner``'s path relative to ``folder`` as a source-name prefix ("index/"); None when it lies outside."""
    try:
        relative = inner.resolve().relative_to(folder.resolve())
    except ValueError:
        return None
    return f"{relative.as_posix()}/" if relative.parts else None


def _setting_changes(manifest: Manifest, settings: Settings, embedder: Embedder) -> str:
    pairs = [
        ("embedding_model", manifest.embedding_model, embedder.name),
        ("dimension", manifest.dimension, embedder.dimension),
        ("chunk_size", manifest.chunk_size, settings.chunk_size),
        ("chunk_overlap", manifest.chunk_overlap, settings.chunk_overlap),
        ("sentence_vectors", manifest.sentence_vectors, SENTENCE_VECTORS),
    ]
    if manifest.vector_storage == "int8" and settings.vector_storage == "float32":
        # 8-bit codes cannot give the float32 vectors back: only embedding again can.
        pairs.append(("vector_storage", manifest.vector_storage, settings.vector_storage))
    return ", ".join(f"{name} {old!r} -> {new!r}" for name, old, new in pairs if old != new)


def _update(
    settings: Settings,
    embedder: Embedder,
    corpus: _Corpus,
    previous: ChunkStore | None,
    report: IndexReport,
    progress: bool,
) -> ChunkStore:
    """The index for ``corpus``: ``previous``'s segments for unchanged files, plus one new segment for the rest."""
    sources = sorted(corpus.hashes)
    reusable = set()
    if previous is not None:
        reusable = {s for s in sources if s in previous.manifest.files and s not in report.changed}
    # New chunks and sentences of the files that need embedding, in name order.
    fresh: dict[str, tuple[list[Sentence], list[Chunk]]] = {
        source: chunk_document(corpus.document(source), settings.chunk_size, settings.chunk_overlap)
        for source in sources
        if source not in reusable
    }
    new_chunks = [c for _, chunks in fresh.values() for c in chunks]
    report.embedded_chunks = len(new_chunks)
    # One pass of the model per chunk gives its vector and, pooled from the same token vectors, its
    # sentences' vectors: each sentence read in its context, and no second pass over the text.
    spans = [[(s.start - c.start, s.end - c.start) for s in c.sentences] for c in new_chunks]
    new_chunk_vectors, pooled = embedder.encode_with_spans(
        [c.text for c in new_chunks], spans, progress=progress, desc="Embedding chunks"
    )
    new_rows: list[tuple[int, ...]] = []
    first_pooled: list[int] = []  # for each sentence of the new segment, its row in ``pooled``
    n_pooled = 0
    for sentences, chunks in fresh.values():
        positions: dict[Sentence, int] = {}
        for chunk in chunks:
            for sentence in chunk.sentences:
                if sentence not in positions:  # a sentence in the overlap keeps its first chunk's reading
                    positions[sentence] = len(first_pooled)
                    first_pooled.append(n_pooled)
                n_pooled += 1
            new_rows.append(tuple(positions[s] for s in chunk.sentences))
        if len(positions) != len(sentences):
            raise AssertionError("every sentence of a document belongs to one of its chunks")
    new_sentence_vectors = pooled[first_pooled]
    # The code book of 8-bit vectors is learnt from the first build and kept, so all segments share it.
    codec = (
        previous.manifest.codec
        if previous is not None
        else VectorCodec.fit(resolve_vector_storage(settings, None), [new_chunk_vectors, new_sentence_vectors])
    )
    segment = Segment.new(new_chunks, new_chunk_vectors, new_rows, new_sentence_vectors, codec) if new_chunks else None

    files: dict[str, FileEntry] = {}
    for source in sources:
        size, mtime_ns = corpus.stamps.get(source, (-1, -1))
        if source in reusable and previous is not None:
            entry = previous.manifest.files[source]
            # A file read again (touched, same text) gets its new stamp, so the next scan can skip it.
            files[source] = (
                dataclasses.replace(entry, size=size, mtime_ns=mtime_ns) if source in corpus.stamps else entry
            )
        elif segment is not None:
            sentences, chunks = fresh[source]
            doc = corpus.document(source)
            files[source] = FileEntry(
                corpus.hashes[source],
                len(chunks),
                len(sentences),
                segment.name,
                size,
                mtime_ns,
                kind=doc.kind,
                pages=len(doc.pages),
            )
    live = {entry.segment for entry in files.values()}
    segments = [s for s in (previous.segments if previous is not None else []) if s.name in live]
    if segment is not None:
        segments.append(segment)
    manifest = Manifest(
        embedding_model=embedder.name,
        dimension=embedder.dimension,
        chunk_size=settings.chunk_size,
        chunk_overlap=settings.chunk_overlap,
        sentence_vectors=SENTENCE_VECTORS,
        files=files,
        index_type=resolve_index_type(settings, sum(entry.chunks for entry in files.values())),
        vector_storage=codec.storage,
        vector_ranges=list(codec.ranges),
        skipped=dict(corpus.skipped),
    )
    store = ChunkStore.assemble(manifest, segments, base=previous)
    wanted_storage = resolve_vector_storage(settings, store)
    if codec.storage != wanted_storage:
        # float32 -> int8: the stored vectors are quantized, with a code book learnt from all of them.
        logger.info("storing the vectors as %s", wanted_storage)
        vectors = [store.chunk_vectors(), *(store.sentence_vectors_of(row) for row in range(len(store)))]
        return store.compacted(VectorCodec.fit(wanted_storage, vectors))
    dead = store.dead_chunks()
    if len(store.segments) > MAX_SEGMENTS or dead > MAX_DEAD_SHARE * max(len(store), 1):
        logger.info("compacting the index: %d segments, %d dead chunks", len(store.segments), dead)
        store = store.compacted()
    return store
