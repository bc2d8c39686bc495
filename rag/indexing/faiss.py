"""Keeping an index in step with its docs folder: build it, refresh only what changed, never twice at once.

``sync_index`` is the one entry point. It compares the SHA-256 of every document with the manifest and
the embedding/chunking settings with the ones the index was built with, then:

- nothing changed: the index is used as it is, nothing is written;
- files changed, were added or removed: only those files are chunked and embedded again, the vectors of
  the others are reused;
- a setting changed, or the index is corrupt: everything is rebuilt, and the log says why.

Writers take a file lock beside the index folder, so two processes indexing the same folder wait for each
other instead of corrupting it.

Work is committed in steps: each file (or, for many small files, each batch of files reaching
``Settings.index_step_chunks`` chunks) is embedded, written as a segment and committed with a new manifest
that lists the files still to do (``Manifest.pending``). A run killed at any point loses at most its step in
progress; the next run finds the committed files unchanged, embeds only the rest, and says how much was
already done. Until its new version is committed, a changed file keeps its previous version searchable, and a
file whose new version cannot be read keeps its previous version (``IndexReport.kept`` says why).

Progress (files and chunks done, rate, time left) goes to a callback at least twice a second
(``rag.indexing.progress``).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from filelock import FileLock, Timeout

from rag.config import Settings
from rag.embeddings import Embedder
from rag.errors import (
    CorruptIndexError,
    IndexLockedError,
    IndexNotFoundError,
    IndexOutdatedError,
    IndexVersionError,
    RagError,
)
from rag.indexing.progress import ProgressCallback, ProgressTracker, tqdm_reporter
from rag.indexing.refresh import (
    Corpus,
    IndexReport,
    plan_refresh,
    resolve_index_type,
    resolve_vector_storage,
    scan_docs,
    setting_changes,
)
from rag.indexing.sentences import embedding_inputs, sentence_rows
from rag.indexing.texts import save_extracted_texts
from rag.ingest.chunking import Chunk, Sentence, chunk_document
from rag.ingest.documents import Document
from rag.ingest.readers.base import READER_VERSION
from rag.stores.codec import VectorCodec
from rag.stores.faiss import ChunkStore
from rag.stores.manifest import SENTENCE_VECTORS, FileEntry, Manifest
from rag.stores.segments import Segment

__all__ = ["IndexCancelled", "sync_index"]

logger = logging.getLogger(__name__)
# The summary of what indexing did has a logger of its own, so that ``rag index``, which prints the summary
# as its output, can mute it instead of showing the line twice.
SUMMARY_LOGGER = f"{__name__}.summary"

LOCK_TIMEOUT_S = 600.0
# A refresh adds a segment; past this many segments, or when dead chunks (of changed or removed files) pass
# this share of the live ones, the index is compacted into one segment (a rewrite, no re-embedding).
MAX_SEGMENTS = 16
MAX_DEAD_SHARE = 0.25
# Chunks embedded per call of the model while indexing: at about 20 chunks/s on two cores, one call takes
# under half a second, so progress moves often and a cancel is noticed quickly. Throughput is the same at
# any batch size on CPU (FIELD-NOTES).
EMBED_BATCH = 8
MAX_STEPS = 64


class IndexCancelled(RagError):
    """Indexing stopped because it was asked to (``cancel``); the files committed before that are kept.

    Attributes:
        committed: Files this run embedded and committed before it stopped.
        remaining: Files it had still to embed (the next refresh does them, unless they are removed).
        store: The index as last committed (the previous one when this run committed nothing; None when
            there was none).
    """

    def __init__(self, committed: list[str], remaining: list[str], store: ChunkStore | None) -> None:
        super().__init__(f"indexing cancelled: {len(committed)} file(s) indexed and kept, {len(remaining)} not indexed")
        self.committed, self.remaining, self.store = committed, remaining, store


def sync_index(
    settings: Settings,
    embedder: Embedder,
    *,
    documents: Sequence[Document] | None = None,
    rebuild: bool = False,
    progress: bool | ProgressCallback = True,
    current: ChunkStore | None = None,
    reindex: Sequence[str] = (),
    cancel: threading.Event | None = None,
) -> tuple[ChunkStore, IndexReport]:
    """Make the index in ``settings.index_dir`` match the documents, and return it.

    Args:
        settings: Where the docs and the index are, and how to chunk.
        embedder: The model that embeds chunks and sentences.
        documents: The documents to index; read from ``settings.docs_dir`` when None.
        rebuild: Re-embed everything even if the index is up to date.
        progress: True for a progress bar on stderr, False for none, or a callback that receives an
            ``IndexProgress`` after each batch and at least twice a second while embedding.
        current: The index as already loaded (a running bot's): used instead of reading the folder again
            when the folder's manifest is still the one it was loaded from.
        reindex: Files to embed again even though they did not change.
        cancel: Set it (from another thread) to stop after the batch in progress: ``IndexCancelled`` is
            raised, and what was committed stays.

    Raises:
        DocumentError: The docs folder is missing or holds no readable document.
        IndexVersionError: The index is from a newer version of rag (it is not overwritten).
        IndexLockedError: Another process held the index lock for longer than 10 minutes.
        RagError: The index folder cannot be written.
    """
    store, report = (None, IndexReport("built", "rebuild requested")) if rebuild else _open(settings, embedder, current)
    if documents is not None:
        corpus = Corpus.of(documents)
    else:
        corpus = scan_docs(
            settings.docs_dir,
            store.manifest if store is not None else None,
            settings.read_options(),
            settings.index_dir,
        )
    if store is not None:
        report = plan_refresh(settings, store.manifest, corpus, reindex)
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
                    report = plan_refresh(settings, store.manifest, corpus, reindex)
                    if report is None:
                        if store.manifest.skipped != corpus.skipped:
                            # The chunks are as they were; only the list of skipped files is recorded, so
                            # each reason is reported once, when found.
                            store.manifest.skipped = dict(corpus.skipped)
                            _save(store, settings.index_dir, base=store)
                        return store, _reused(store, corpus)
            assert report is not None
            base = store if report.action == "refreshed" else None
            if base is not None and set(base.manifest.pending) & set(corpus.hashes):
                done = [name for name in base.manifest.files if name not in base.manifest.pending]
                report.resumed = (len(done), sum(base.manifest.files[name].chunks for name in done))
                logger.info("resuming an interrupted index run: %d file(s), %d chunks already indexed", *report.resumed)
            report.kept = sorted(corpus.kept.items())
            for name, why in report.kept:
                logger.warning("kept the previous version of %s: %s", name, why)
            new_store = _update(settings, embedder, corpus, base, report, progress, cancel)
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


def _reused(store: ChunkStore, corpus: Corpus) -> IndexReport:
    report = IndexReport(
        "reused",
        "up to date",
        total_chunks=len(store),
        skipped=sorted(corpus.skipped.items()),
        kept=sorted(corpus.kept.items()),
    )
    for name, why in report.kept:
        logger.warning("kept the previous version of %s: %s", name, why)
    return report


def _save(store: ChunkStore, folder: Path, base: ChunkStore | None) -> None:
    try:
        store.save(folder, base=base)
    except OSError as exc:
        raise RagError(
            f"cannot write the index to {folder}: {exc.strerror or exc}; "
            "check that the folder is writable and the disk is not full"
        ) from exc


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
    changes = setting_changes(store.manifest, settings, embedder)
    if changes:
        if log:
            logger.info("settings changed since the index was built (%s); rebuilding", changes)
        return None, IndexReport("built", f"settings changed: {changes}")
    return store, None


def _update(
    settings: Settings,
    embedder: Embedder,
    corpus: Corpus,
    previous: ChunkStore | None,
    report: IndexReport,
    progress: bool | ProgressCallback,
    cancel: threading.Event | None = None,
) -> ChunkStore:
    """Embed what ``corpus`` needs beyond ``previous``, committing the index to disk after every step.

    Unchanged files keep ``previous``'s segments; each step of new or changed files becomes one new segment.
    The last commit also converts vector storage, or compacts, when that is due.
    """
    sources = sorted(corpus.hashes)
    reusable = set()
    if previous is not None:
        reusable = {s for s in sources if s in previous.manifest.files and s not in report.changed}
    todo = [s for s in sources if s not in reusable]
    # Chunk everything first (fast next to embedding): the totals give progress its rate and time left.
    fresh: dict[str, tuple[list[Sentence], list[Chunk]]] = {
        source: chunk_document(corpus.document(source), settings.chunk_size, settings.chunk_overlap) for source in todo
    }
    report.embedded_chunks = sum(len(chunks) for _, chunks in fresh.values())

    files: dict[str, FileEntry] = {}
    for source in sources:
        if source in reusable and previous is not None:
            entry = previous.manifest.files[source]
            size, mtime_ns = corpus.stamps.get(source, (-1, -1))
            # A file read again (touched, same text) gets its new stamp, so the next scan can skip it.
            files[source] = (
                dataclasses.replace(entry, size=size, mtime_ns=mtime_ns) if source in corpus.stamps else entry
            )
        elif previous is not None and source in previous.manifest.files:
            files[source] = previous.manifest.files[source]  # its previous version, until the new one is in
    codec = previous.manifest.codec if previous is not None else None
    store = previous
    steps = _steps(todo, fresh, settings)
    callback, close = _progress_callback(progress)
    resumed = report.resumed[0] if report.resumed else 0
    tracker = ProgressTracker(callback, len(todo), report.embedded_chunks, resumed)
    try:
        with tracker.ticking():
            for number, step in enumerate(steps):
                chunks = [c for source in step for c in fresh[source][1]]
                if cancel is not None and cancel.is_set():
                    committed = [s for earlier in steps[:number] for s in earlier]
                    raise IndexCancelled(committed, [s for later in steps[number:] for s in later], store)
                vectors, rows, sentence_vectors = _embed(embedder, step, fresh, tracker, cancel)
                if vectors is None:  # cancelled mid-step: the step is dropped, as a kill would drop it
                    committed = [s for earlier in steps[:number] for s in earlier]
                    raise IndexCancelled(committed, [s for later in steps[number:] for s in later], store)
                # The code book of 8-bit vectors is learnt from the first step and kept, so all segments share it.
                if codec is None:
                    codec = VectorCodec.fit(resolve_vector_storage(settings, None), [vectors, sentence_vectors])
                segment = Segment.new(chunks, vectors, rows, sentence_vectors, codec)
                now = time.time()
                for source in step:
                    sentences, source_chunks = fresh[source]
                    size, mtime_ns = corpus.stamps.get(source, (-1, -1))
                    doc = corpus.document(source)
                    files[source] = FileEntry(
                        corpus.hashes[source],
                        len(source_chunks),
                        len(sentences),
                        segment.name,
                        size,
                        mtime_ns,
                        kind=doc.kind,
                        pages=len(doc.pages),
                        indexed_at=now,
                    )
                pending = [s for later in steps[number + 1 :] for s in later]
                store = _commit(settings, embedder, corpus, files, store, segment, codec, pending, last=not pending)
                tracker.add(files=len(step))
            if not steps:  # only removals, new stamps or a new index type: one commit, nothing embedded
                store = _commit(settings, embedder, corpus, files, store, None, codec or VectorCodec(), [], last=True)
    finally:
        close()
    assert store is not None
    return store


def _progress_callback(progress: bool | ProgressCallback) -> tuple[ProgressCallback | None, Callable[[], None]]:
    if progress is True:
        return tqdm_reporter()
    if progress is False:
        return None, lambda: None
    return progress, lambda: None


def _steps(
    todo: list[str], fresh: dict[str, tuple[list[Sentence], list[Chunk]]], settings: Settings
) -> list[list[str]]:
    """The files to embed, grouped into commit steps: one file, or small files until they reach the step size."""
    # A big job takes bigger steps, so that it never writes more than about MAX_STEPS segments (each commit
    # re-assembles the index): 100k chunks commit every ~1,500 chunks, about a minute of embedding.
    target = max(settings.index_step_chunks, sum(len(fresh[s][1]) for s in todo) // MAX_STEPS)
    steps: list[list[str]] = []
    current: list[str] = []
    size = 0
    for source in todo:
        n = len(fresh[source][1])
        if not n:
            continue
        current.append(source)
        size += n
        if size >= target:
            steps.append(current)
            current, size = [], 0
    if current:
        steps.append(current)
    return steps


def _embed(
    embedder: Embedder,
    step: list[str],
    fresh: dict[str, tuple[list[Sentence], list[Chunk]]],
    tracker: ProgressTracker,
    cancel: threading.Event | None = None,
) -> tuple[np.ndarray | None, list[tuple[int, ...]], np.ndarray]:
    """The chunk vectors of ``step``'s files, each chunk's rows in the sentence vectors, and those vectors.

    One pass of the model per chunk gives its vector and, pooled from the same token vectors, its
    sentences' vectors (``rag.indexing.sentences``): each sentence read in its context, and no second pass
    over the text. The vectors are None when ``cancel`` was set before the step was done.
    """
    chunks = [c for source in step for c in fresh[source][1]]
    texts, spans = embedding_inputs(chunks)
    vector_parts, pooled_parts = [], []
    for i in range(0, len(chunks), EMBED_BATCH):
        if cancel is not None and cancel.is_set():
            return None, [], np.zeros(0)
        vectors, pooled = embedder.encode_with_spans(
            texts[i : i + EMBED_BATCH], spans[i : i + EMBED_BATCH], progress=False
        )
        vector_parts.append(vectors)
        pooled_parts.append(pooled)
        tracker.add(chunks=len(vectors))
    chunk_vectors = np.vstack(vector_parts)
    all_pooled = np.vstack(pooled_parts)
    rows, first_pooled = sentence_rows([fresh[source] for source in step])
    return chunk_vectors, rows, all_pooled[first_pooled]


def _commit(
    settings: Settings,
    embedder: Embedder,
    corpus: Corpus,
    files: dict[str, FileEntry],
    previous: ChunkStore | None,
    segment: Segment | None,
    codec: VectorCodec,
    pending: list[str],
    *,
    last: bool,
) -> ChunkStore:
    """Assemble the index of ``files`` from ``previous``'s segments plus ``segment``, and save it.

    The texts extracted from the committed documents (PDF, Word, HTML) are stored with it, since the offsets
    of their chunks point into them.
    """
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
        readers=READER_VERSION,
        files=dict(files),
        index_type=resolve_index_type(settings, sum(entry.chunks for entry in files.values())),
        vector_storage=codec.storage,
        vector_ranges=list(codec.ranges),
        skipped=dict(corpus.skipped),
        pending=list(pending),
    )
    store = ChunkStore.assemble(manifest, segments, base=previous)
    if last:
        store = _finish(settings, store)
    _save(store, settings.index_dir, base=previous)
    save_extracted_texts(settings.index_dir, corpus, store.manifest)
    return store


def _finish(settings: Settings, store: ChunkStore) -> ChunkStore:
    """Convert the vector storage, or compact, when either is due (nothing is re-embedded)."""
    wanted_storage = resolve_vector_storage(settings, store.manifest)
    if store.manifest.codec.storage != wanted_storage:
        # float32 -> int8: the stored vectors are quantized, with a code book learnt from all of them.
        logger.info("storing the vectors as %s", wanted_storage)
        vectors = [store.chunk_vectors(), *(store.sentence_vectors_of(row) for row in range(len(store)))]
        return store.compacted(VectorCodec.fit(wanted_storage, vectors))
    dead = store.dead_chunks()
    if len(store.segments) > MAX_SEGMENTS or dead > MAX_DEAD_SHARE * max(len(store), 1):
        logger.info("compacting the index: %d segments, %d dead chunks", len(store.segments), dead)
        store = store.compacted()
    return store
