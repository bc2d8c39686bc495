"""The index on disk: reuse, incremental refresh, corruption, atomic saves and the lock."""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from rag.config import Settings
from rag.embeddings import Embedder
from rag.errors import CorruptIndexError, RagError
from rag.indexing.faiss import sync_index
from rag.ingest.readers.base import READER_VERSION
from rag.stores.codec import VectorCodec
from rag.stores.faiss import ChunkStore
from tests.conftest import ANALYSIS, SIGNING


def _files(index_dir: Path) -> dict[str, float]:
    return {str(p.relative_to(index_dir)): p.stat().st_mtime_ns for p in index_dir.rglob("*")}


def _segments(index_dir: Path) -> list[Path]:
    return sorted(p for p in index_dir.iterdir() if p.name.startswith("seg-"))


def test_build_then_reuse_without_writing(settings: Settings, embedder: Embedder) -> None:
    store, report = sync_index(settings, embedder, progress=False)
    assert report.action == "built" and report.embedded_chunks == len(store) > 0
    (segment,) = _segments(settings.index_dir)
    assert sorted(p.name for p in settings.index_dir.iterdir()) == ["manifest.json", segment.name]
    assert sorted(p.name for p in segment.iterdir()) == ["chunks.jsonl", "sentences.npy", "vectors.npy"]
    before = _files(settings.index_dir)
    again, report = sync_index(settings, embedder, progress=False)
    assert report.action == "reused" and report.embedded_chunks == 0
    assert _files(settings.index_dir) == before
    assert [c.id for c in again.chunks] == [c.id for c in store.chunks]


def test_manifest_records_model_settings_and_file_hashes(settings: Settings, embedder: Embedder) -> None:
    sync_index(settings, embedder, progress=False)
    manifest = json.loads((settings.index_dir / "manifest.json").read_text())
    assert manifest["embedding_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert manifest["dimension"] == 384
    assert (manifest["chunk_size"], manifest["chunk_overlap"]) == (
        settings.chunk_size,
        settings.chunk_overlap,
    )
    assert set(manifest["files"]) == {SIGNING, ANALYSIS}
    assert all(len(f["sha256"]) == 64 for f in manifest["files"].values())
    assert manifest["format_version"] == 4


# The fields a manifest of each FAISS format holds. An older rag parses a manifest with ``Manifest(**fields)``,
# so a field added without a new format makes it call a newer index corrupt and rebuild over it.
MANIFEST_FIELDS_BY_FORMAT = {
    3: {
        "embedding_model", "dimension", "chunk_size", "chunk_overlap", "files", "sentence_vectors",
        "format_version", "index_type", "vector_storage", "vector_ranges", "segments", "graph", "graph_layout",
        "checksums", "skipped", "pending",
    },
}  # fmt: skip
MANIFEST_FIELDS_BY_FORMAT[4] = MANIFEST_FIELDS_BY_FORMAT[3] | {"readers"}
# Each file's entry is parsed the same way (``FileEntry(**entry)``), so its fields are pinned per format too.
FILE_ENTRY_FIELDS_BY_FORMAT = {
    3: {"sha256", "chunks", "sentences", "segment", "size", "mtime_ns", "kind", "pages", "indexed_at"},
}
FILE_ENTRY_FIELDS_BY_FORMAT[4] = FILE_ENTRY_FIELDS_BY_FORMAT[3]


def test_the_manifest_gains_a_field_only_with_a_new_format_version() -> None:
    import dataclasses

    from rag.stores.manifest import FORMAT_CHANGES, FORMAT_VERSION, FileEntry, Manifest

    assert {f.name for f in dataclasses.fields(Manifest)} == MANIFEST_FIELDS_BY_FORMAT[FORMAT_VERSION]
    assert {f.name for f in dataclasses.fields(FileEntry)} == FILE_ENTRY_FIELDS_BY_FORMAT[FORMAT_VERSION]
    assert FORMAT_VERSION in FORMAT_CHANGES, "the rebuild log line says what the new format brought"


def test_changed_added_and_removed_files_refresh_only_what_changed(settings: Settings, embedder: Embedder) -> None:
    store, _ = sync_index(settings, embedder, progress=False)
    untouched = [c for c in store.chunks if c.source == ANALYSIS]
    untouched_vectors = store.chunk_vectors([i for i, c in enumerate(store.chunks) if c.source == ANALYSIS])

    (settings.docs_dir / "extra.md").write_text("Zorblat is the mascot of the test suite. It is purple.")
    store, report = sync_index(settings, embedder, progress=False)
    assert report.action == "refreshed" and report.added == ["extra.md"]
    assert report.embedded_chunks == 1, "only the new file is embedded"

    signing = settings.docs_dir / SIGNING
    signing.write_text(signing.read_text() + "\nKT later added a footnote about Zorblat.", encoding="utf-8")
    store, report = sync_index(settings, embedder, progress=False)
    assert report.changed == [SIGNING]
    assert report.embedded_chunks == sum(1 for c in store.chunks if c.source == SIGNING)
    kept = [c for c in store.chunks if c.source == ANALYSIS]
    assert kept == untouched
    kept_vectors = store.chunk_vectors([i for i, c in enumerate(store.chunks) if c.source == ANALYSIS])
    np.testing.assert_array_equal(kept_vectors, untouched_vectors)

    (settings.docs_dir / "extra.md").unlink()
    store, report = sync_index(settings, embedder, progress=False)
    assert report.removed == ["extra.md"] and report.embedded_chunks == 0
    assert {c.source for c in store.chunks} == {SIGNING, ANALYSIS}
    # Sentence rows still point at the right vectors after the reshuffle: each sentence's vector is the
    # one pooled from the first chunk of its document that holds it.
    for source in (SIGNING, ANALYSIS):
        rows = [row for row, chunk in enumerate(store.chunks) if chunk.source == source]
        chunks = [store.chunks[row] for row in rows]
        spans = [[(s.start - c.start, s.end - c.start) for s in c.sentences] for c in chunks]
        _, pooled = embedder.encode_with_spans([c.text for c in chunks], spans)
        readings = iter(pooled)
        first = {}
        for chunk in chunks:
            for sentence in chunk.sentences:
                first.setdefault(sentence, next(readings))
        for row, chunk in zip(rows, chunks, strict=True):
            expected = np.array([first[s] for s in chunk.sentences])
            np.testing.assert_allclose(store.sentence_vectors_of(row), expected, atol=2e-3)


def test_changed_chunk_settings_rebuild_everything(settings: Settings, embedder: Embedder) -> None:
    sync_index(settings, embedder, progress=False)
    smaller = settings.replace(chunk_size=400, chunk_overlap=80)
    store, report = sync_index(smaller, embedder, progress=False)
    assert report.action == "built" and "chunk_size 800 -> 400" in report.reason
    assert all(len(c.text) <= 400 for c in store.chunks)


def test_an_index_read_by_older_readers_is_read_again(settings: Settings, embedder: Embedder) -> None:
    # A reader fix (a web page's title shown in its body becoming its top section) reaches an index built
    # before it only when the files are read again: the manifest says which readers read them.
    sync_index(settings, embedder, progress=False)
    manifest_file = settings.index_dir / "manifest.json"
    manifest = json.loads(manifest_file.read_text())
    assert manifest["readers"] >= 1
    del manifest["readers"]  # as an index written before readers were versioned
    manifest_file.write_text(json.dumps(manifest))
    store, report = sync_index(settings, embedder, progress=False)
    assert report.action == "built" and f"readers 0 -> {READER_VERSION}" in report.reason
    assert len(store) > 0
    _, again = sync_index(settings, embedder, progress=False)
    assert again.action != "built"


@pytest.mark.parametrize("damage", ["truncate_vectors", "edit_docstore", "garble_manifest", "delete_sentences"])
def test_a_damaged_index_is_detected_and_rebuilt(settings: Settings, embedder: Embedder, damage: str) -> None:
    sync_index(settings, embedder, progress=False)
    folder = settings.index_dir
    (segment,) = _segments(folder)
    if damage == "truncate_vectors":
        data = (segment / "vectors.npy").read_bytes()
        (segment / "vectors.npy").write_bytes(data[: len(data) // 2])
    elif damage == "edit_docstore":
        text = (segment / "chunks.jsonl").read_text()
        (segment / "chunks.jsonl").write_text(text.replace("Redmond", "Seattle"))
    elif damage == "garble_manifest":
        (folder / "manifest.json").write_text("{not json")
    else:
        (segment / "sentences.npy").unlink()
    with pytest.raises(CorruptIndexError):
        ChunkStore.load(folder)
    store, report = sync_index(settings, embedder, progress=False)
    assert report.action == "built" and "unusable" in report.reason
    assert any("Redmond" in c.text for c in store.chunks)
    ChunkStore.load(folder)  # readable again


def test_an_index_from_a_newer_version_is_refused_and_left_alone(settings: Settings, embedder: Embedder) -> None:
    sync_index(settings, embedder, progress=False)
    path = settings.index_dir / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["format_version"] = 99
    path.write_text(json.dumps(manifest))
    with pytest.raises(CorruptIndexError, match="newer version"):
        sync_index(settings, embedder, progress=False)
    assert json.loads(path.read_text())["format_version"] == 99


def test_a_save_that_dies_before_its_manifest_leaves_the_previous_index(settings: Settings, embedder: Embedder) -> None:
    store, _ = sync_index(settings, embedder, progress=False)
    # A crash mid-save: a new segment is half written and a staged manifest never replaced the real one.
    orphan = settings.index_dir / "seg-0123456789ab"
    orphan.mkdir()
    (orphan / "vectors.npy").write_bytes(b"\x93NUMPY half")
    staged = settings.index_dir / ".manifest.json.999999999.tmp"
    staged.write_text("{")
    restored = ChunkStore.load(settings.index_dir)
    assert [c.id for c in restored.chunks] == [c.id for c in store.chunks]
    # The next save clears the leftovers.
    (settings.docs_dir / "extra.md").write_text("Zorblat is purple.")
    sync_index(settings, embedder, progress=False)
    assert not orphan.exists() and not staged.exists()


def _make_read_only(folder: Path) -> Callable[[], None]:
    """Make ``folder`` unwritable, for root too (root ignores permission bits, not the immutable flag)."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return lambda: folder.chmod(0o755)
    result = subprocess.run(["chattr", "+i", str(folder)], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot make a folder read-only as root here: {result.stderr.strip()}")
    return lambda: subprocess.run(["chattr", "-i", str(folder)], check=True)


def test_a_read_only_index_folder_gives_a_clear_error_and_keeps_the_old_index(
    settings: Settings, embedder: Embedder
) -> None:
    sync_index(settings, embedder, progress=False)
    (settings.docs_dir / "new.txt").write_text("A new document about nothing in particular.")
    undo = _make_read_only(settings.index_dir)
    try:
        with pytest.raises(RagError, match="cannot write the index"):
            sync_index(settings, embedder, progress=False)
    finally:
        undo()
    assert ChunkStore.load(settings.index_dir).manifest.files.keys() == {SIGNING, ANALYSIS}


def test_flat_search_matches_numpy_brute_force(settings: Settings, embedder: Embedder) -> None:
    store, _ = sync_index(settings, embedder, progress=False)
    vectors = store.chunk_vectors()
    for question in ["Who signed the deal?", "AI chips investment by 2027", "SK Telecom and AWS"]:
        query = embedder.encode_one(question)
        expected = np.argsort(-(vectors @ query), kind="stable")[:5]
        got = [row for row, _ in store.search(query, 5)]
        assert got == list(expected)


def test_a_refresh_searches_old_segments_through_their_own_indexes_and_hides_dead_chunks(
    settings: Settings, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    import rag.indexing.faiss

    monkeypatch.setattr(rag.indexing.faiss, "MAX_DEAD_SHARE", 10.0)  # keep the dead chunks: no compaction
    first, _ = sync_index(settings, embedder, progress=False)
    (segment,) = first.segments
    changed = settings.docs_dir / SIGNING
    changed.write_text(changed.read_text(encoding="utf-8") + "\n\nKT also opened a lab in Pangyo.", encoding="utf-8")
    store, _ = sync_index(settings, embedder, progress=False, current=first)

    assert len(store.segments) == 2 and store.dead_chunks() == first.manifest.files[SIGNING].chunks > 0
    # The unchanged segment's exact index is the very one the previous store searched: nothing was copied.
    assert store.segments[0] is segment and segment.flat_index(store.manifest.codec) is segment._flat
    vectors = store.chunk_vectors()
    assert vectors.shape == (len(store), store.manifest.dimension)
    for question in ["Who signed the deal?", "Where did KT open a lab?", "AI chips by 2027", "SK Telecom and AWS"]:
        query = embedder.encode_one(question)
        got = store.search(query, len(store) + 5)
        # Every live chunk once, no dead one, best first, each with its own cosine.
        assert sorted(row for row, _ in got) == list(range(len(store)))
        np.testing.assert_allclose([score for _, score in got], np.sort(vectors @ query)[::-1], rtol=1e-5)
        np.testing.assert_allclose([score for _, score in got], [vectors[row] @ query for row, _ in got], rtol=1e-5)
    assert store.chunks[store.search(embedder.encode_one("Where did KT open a lab?"), 1)[0][0]].source == SIGNING
    assert len(first.search(query, len(first) + 5)) == len(first), "the previous store still sees all its chunks"


def _index_in_child(docs: str, index: str, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    from rag.embeddings import get_embedder

    s = Settings(docs_dir=Path(docs), index_dir=Path(index))
    _, report = sync_index(s, get_embedder(s.embedding_model, cache_dir=s.cache_dir), progress=False)
    queue.put(report.action)


def test_two_processes_indexing_the_same_folder_do_not_corrupt_it(settings: Settings) -> None:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    workers = [
        context.Process(target=_index_in_child, args=(str(settings.docs_dir), str(settings.index_dir), queue))
        for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=180)
        assert worker.exitcode == 0
    actions = sorted(queue.get(timeout=5) for _ in workers)
    assert actions == ["built", "reused"], "the second process waits for the lock and reuses the first's index"
    ChunkStore.load(settings.index_dir)


def test_switching_to_hnsw_reindexes_stored_vectors_without_embedding(settings: Settings, embedder: Embedder) -> None:
    flat, _ = sync_index(settings, embedder, progress=False)
    hnsw, report = sync_index(settings.replace(index_type="hnsw"), embedder, progress=False)
    assert report.action == "refreshed" and report.embedded_chunks == 0 and "flat -> hnsw" in report.reason
    assert ChunkStore.load(settings.index_dir).manifest.index_type == "hnsw"
    np.testing.assert_array_equal(hnsw.chunk_vectors(), flat.chunk_vectors())
    query = embedder.encode_one("Who signed the agreement?")
    assert [r for r, _ in hnsw.search(query, 3)] == [r for r, _ in flat.search(query, 3)]


def test_auto_index_type_follows_the_corpus_size(settings: Settings, embedder: Embedder) -> None:
    store, _ = sync_index(settings.replace(hnsw_threshold=5), embedder, progress=False)
    assert len(store) >= 5 and store.manifest.index_type == "hnsw"
    store, _ = sync_index(settings.replace(hnsw_threshold=10_000), embedder, progress=False)
    assert store.manifest.index_type == "flat"


def test_a_refresh_writes_only_the_changed_file_and_leaves_the_rest_untouched(
    settings: Settings, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    import rag.indexing.faiss

    # Two articles: one changed article is half the corpus, which would trigger a compaction.
    monkeypatch.setattr(rag.indexing.faiss, "MAX_DEAD_SHARE", 10.0)
    built, _ = sync_index(settings, embedder, progress=False)
    old_signing_chunks = sum(1 for c in built.chunks if c.source == SIGNING)
    (first,) = _segments(settings.index_dir)
    before = {name: t for name, t in _files(settings.index_dir).items() if name.startswith(first.name)}
    signing = settings.docs_dir / SIGNING
    signing.write_text(signing.read_text() + "\nKT later added a footnote about Zorblat.", encoding="utf-8")
    store, report = sync_index(settings, embedder, progress=False)
    assert report.changed == [SIGNING]
    # The first segment is not rewritten; the changed file's chunks go to a second one.
    assert {name: t for name, t in _files(settings.index_dir).items() if name.startswith(first.name)} == before
    (_, second) = sorted(_segments(settings.index_dir), key=lambda p: p != first)
    new_chunks = [json.loads(line) for line in (second / "chunks.jsonl").read_text().splitlines()]
    assert {c["source"] for c in new_chunks} == {SIGNING}
    manifest = json.loads((settings.index_dir / "manifest.json").read_text())
    assert manifest["files"][SIGNING]["segment"] == second.name and manifest["files"][ANALYSIS]["segment"] == first.name
    # The signing article's old chunks are dead: never returned, though still on disk until compaction.
    assert store.dead_chunks() == old_signing_chunks > 0
    assert any("Zorblat" in c.text for c in store.chunks if c.source == SIGNING)
    loaded = ChunkStore.load(settings.index_dir)
    assert [c.id for c in loaded.chunks] == [c.id for c in store.chunks]
    query = embedder.encode_one("footnote about Zorblat")
    assert loaded.chunks[loaded.search(query, 1)[0][0]].source == SIGNING


def test_compaction_folds_segments_into_one_without_changing_answers(
    settings: Settings, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    import rag.indexing.faiss

    monkeypatch.setattr(rag.indexing.faiss, "MAX_SEGMENTS", 2)
    monkeypatch.setattr(rag.indexing.faiss, "MAX_DEAD_SHARE", 10.0)
    sync_index(settings, embedder, progress=False)
    for n in range(2):
        (settings.docs_dir / f"note{n}.md").write_text(f"Note {n}: Zorblat number {n} is purple.")
        store, _ = sync_index(settings, embedder, progress=False)
    manifest = json.loads((settings.index_dir / "manifest.json").read_text())
    assert len(manifest["segments"]) == len(store.segments) == 1, "three segments became one"
    assert store.dead_chunks() == 0
    fresh, _ = sync_index(settings, embedder, progress=False, rebuild=True)
    query = embedder.encode_one("Who signed the agreement, and where?")
    got = [store.chunks[r].id for r, _ in store.search(query, 5)]
    assert got == [fresh.chunks[r].id for r, _ in fresh.search(query, 5)]
    assert sorted(c.id for c in store.chunks) == sorted(c.id for c in fresh.chunks)
    # One vector per sentence, as in a fresh build: sentences in the overlap of two chunks are not doubled.
    (segment,) = store.segments
    assert len(segment.sentence_vectors) == sum(e.sentences for e in store.manifest.files.values())
    by_id = {c.id: row for row, c in enumerate(fresh.chunks)}
    for row, chunk in enumerate(store.chunks):
        np.testing.assert_array_equal(store.sentence_vectors_of(row), fresh.sentence_vectors_of(by_id[chunk.id]))


def test_a_format_1_index_is_rebuilt_and_its_files_removed(settings: Settings, embedder: Embedder) -> None:
    settings.index_dir.mkdir(parents=True)
    for name in ("vectors.faiss", "chunks.jsonl", "sentences.npy"):
        (settings.index_dir / name).write_bytes(b"old")
    (settings.index_dir / "manifest.json").write_text(json.dumps({"format_version": 1}))
    store, report = sync_index(settings, embedder, progress=False)
    assert report.action == "built" and "format 1, from an older version" in report.reason and len(store) > 0
    assert sorted(p.name for p in settings.index_dir.iterdir() if not p.name.startswith("seg-")) == ["manifest.json"]


def test_a_loaded_index_is_refreshed_without_reading_the_folder_again(
    settings: Settings, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, _ = sync_index(settings, embedder, progress=False)
    reads: list[Path] = []
    real_load = ChunkStore.load.__func__  # type: ignore[attr-defined]

    def counting_load(cls: type[ChunkStore], folder: Path) -> ChunkStore:
        reads.append(folder)
        return real_load(cls, folder)  # type: ignore[no-any-return]

    monkeypatch.setattr(ChunkStore, "load", classmethod(counting_load))
    (settings.docs_dir / "extra.md").write_text("Zorblat is the mascot of the test suite.")
    store, report = sync_index(settings, embedder, progress=False, current=store)
    assert report.added == ["extra.md"] and reads == [], "the running bot's index is current: no read"
    # Another process changes the index: the folder no longer matches, so it is read.
    (settings.docs_dir / "other.md").write_text("Quuxtron is green.")
    sync_index(settings, embedder, progress=False)
    reads.clear()
    store, report = sync_index(settings, embedder, progress=False, current=store)
    assert report.action == "reused" and len(reads) == 1
    assert {"extra.md", "other.md"} <= {c.source for c in store.chunks}


def _age(folder: Path, seconds: float) -> None:
    """Date every document ``seconds`` back, as files that have sat in a folder for a while."""
    past = time.time() - seconds
    for path in folder.iterdir():
        os.utime(path, (past, past))


def test_a_refresh_reads_only_files_whose_size_or_time_changed(
    settings: Settings, embedder: Embedder, caplog: pytest.LogCaptureFixture
) -> None:
    _age(settings.docs_dir, 3600)
    store, _ = sync_index(settings, embedder, progress=False)
    assert all(entry.mtime_ns > 0 and entry.size > 0 for entry in store.manifest.files.values())
    caplog.set_level(logging.DEBUG, logger="rag.indexing")
    store, report = sync_index(settings, embedder, progress=False, current=store)
    assert report.action == "reused"
    assert "2 document(s) in" in caplog.text and ", 0 read" in caplog.text

    caplog.clear()
    changed = settings.docs_dir / SIGNING
    changed.write_text(changed.read_text(encoding="utf-8") + "\n\nKT added a closing remark.", encoding="utf-8")
    store, report = sync_index(settings, embedder, progress=False, current=store)
    assert report.changed == [SIGNING] and ", 1 read" in caplog.text


def test_a_file_rewritten_within_the_clock_tick_of_its_hashing_is_still_caught(
    settings: Settings, embedder: Embedder
) -> None:
    """Same size, same modification time, new text: caught, because a fresh file's time is not trusted."""
    path = settings.docs_dir / SIGNING
    path.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")  # written just now: a "racy" time
    store, _ = sync_index(settings, embedder, progress=False)
    assert store.manifest.files[SIGNING].mtime_ns == -1 and store.manifest.files[ANALYSIS].mtime_ns > 0
    before = path.stat()
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("Microsoft", "Macrosoft", 1), encoding="utf-8")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size
    _, report = sync_index(settings, embedder, progress=False, current=store)
    assert report.changed == [SIGNING]


def test_an_hnsw_refresh_grows_the_graph_and_hides_dead_chunks(
    settings: Settings, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    import rag.indexing.faiss

    monkeypatch.setattr(rag.indexing.faiss, "MAX_DEAD_SHARE", 10.0)  # keep the dead chunks: no compaction
    hnsw_settings = settings.replace(index_type="hnsw")
    first, _ = sync_index(hnsw_settings, embedder, progress=False)
    assert first.graph_rows is not None and first.index.ntotal == len(first)

    changed = settings.docs_dir / SIGNING
    changed.write_text(changed.read_text(encoding="utf-8") + "\n\nKT also opened a lab in Pangyo.", encoding="utf-8")
    new_graphs: list[str] = []
    new_index = VectorCodec.new_index

    def counting_new_index(codec: VectorCodec, index_type: str, dimension: int) -> object:
        new_graphs.append(index_type)
        return new_index(codec, index_type, dimension)

    with monkeypatch.context() as spy:
        spy.setattr(VectorCodec, "new_index", counting_new_index)
        store, report = sync_index(hnsw_settings, embedder, progress=False, current=first)
    assert new_graphs == [], "the refresh grew a copy of the previous graph instead of building one"
    dead = first.manifest.files[SIGNING].chunks
    assert report.embedded_chunks == store.manifest.files[SIGNING].chunks
    # The old graph plus the new segment's vectors; the changed file's old chunks stay in it, hidden.
    assert store.index.ntotal == first.index.ntotal + report.embedded_chunks
    assert store.graph_rows is not None
    assert store.dead_chunks() == dead and int((store.graph_rows < 0).sum()) == dead
    assert first.index.ntotal == len(first), "the previous store's graph is not changed under its readers"

    flat = store.with_index_type("flat")
    np.testing.assert_array_equal(store.chunk_vectors(), flat.chunk_vectors())
    for question in ["Who signed the deal?", "Where did KT open a lab?", "AI chips by 2027", "SK Telecom and AWS"]:
        query = embedder.encode_one(question)
        got = store.search(query, len(store))
        assert [r for r, _ in got] == [r for r, _ in flat.search(query, len(store))]
        assert all(0 <= r < len(store) for r, _ in got)

    loaded = ChunkStore.load(settings.index_dir)
    assert loaded.manifest.graph_layout == store.manifest.graph_layout
    query = embedder.encode_one("Where did KT open a lab?")
    assert loaded.search(query, 3) == store.search(query, 3)
    assert loaded.chunks[loaded.search(query, 1)[0][0]].source == SIGNING

    compacted = store.compacted()
    assert compacted.index.ntotal == len(compacted) and compacted.dead_chunks() == 0
    assert [r for r, _ in compacted.search(query, 3)] == [r for r, _ in flat.search(query, 3)]


def test_an_hnsw_graph_saved_without_its_layout_is_rebuilt_from_the_vectors(
    settings: Settings, embedder: Embedder
) -> None:
    built, _ = sync_index(settings.replace(index_type="hnsw"), embedder, progress=False)
    path = settings.index_dir / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["graph_layout"] = []
    path.write_text(json.dumps(manifest))
    loaded = ChunkStore.load(settings.index_dir)
    assert loaded.index.ntotal == len(loaded) == len(built)
    query = embedder.encode_one("Who signed the deal?")
    assert loaded.search(query, 3) == built.search(query, 3)


def test_files_indexed_right_after_being_written_get_their_time_recorded_later(
    settings: Settings, embedder: Embedder, caplog: pytest.LogCaptureFixture
) -> None:
    """Copy, then index at once: times too fresh to trust are recorded at the next refresh, then trusted."""
    for path in settings.docs_dir.iterdir():
        path.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")  # written just now
    store, _ = sync_index(settings, embedder, progress=False)
    assert all(entry.mtime_ns == -1 for entry in store.manifest.files.values())
    _age(settings.docs_dir, 60)  # the same files, a minute later
    store, report = sync_index(settings, embedder, progress=False, current=store)
    assert report.action == "refreshed" and report.embedded_chunks == 0
    assert report.reason == "recorded the size and time of 2 unchanged file(s)"
    assert all(entry.mtime_ns > 0 for entry in ChunkStore.load(settings.index_dir).manifest.files.values())
    caplog.set_level(logging.DEBUG, logger="rag.indexing")
    before = _files(settings.index_dir)
    _, report = sync_index(settings, embedder, progress=False, current=store)
    assert report.action == "reused" and ", 0 read" in caplog.text
    assert _files(settings.index_dir) == before


def test_a_chunk_is_embedded_under_its_section_title_with_its_stored_text_and_offsets_unchanged(
    tmp_path: Path, embedder: Embedder
) -> None:
    # "Returns False for broken symbolic links." names no function: read under its <dt> entry's title, the
    # vectors know it is about os.path.exists. The stored text and offsets stay the document's own.
    docs = tmp_path / "docs"
    docs.mkdir()
    sentences = " ".join(f"Note {n} about how this function treats a path of kind {n}." for n in range(12))
    entries = "".join(
        f"<dl><dt>os.path.{name}(path)</dt><dd><p>{sentences} Returns False for broken symbolic links.</p></dd></dl>"
        for name in ("exists", "lexists", "isfile")
    )
    (docs / "ospath.html").write_text(f"<html><body><main><h1>os.path</h1>{entries}</main></body></html>")
    settings = Settings(docs_dir=docs, index_dir=tmp_path / "index")
    store, _ = sync_index(settings, embedder, progress=False)
    text = next((tmp_path / "index").rglob("*.txt")).read_text(encoding="utf-8")
    headed = 0
    for row, chunk in enumerate(store.chunks):
        assert text[chunk.start : chunk.end] == chunk.text
        title = (chunk.section or "").rsplit(" > ", 1)[-1]
        if chunk.text.startswith(title):
            continue
        headed += 1
        assert title.startswith("os.path.")
        stored = store.chunk_vectors([row])[0]
        assert float(stored @ embedder.encode([f"{title}\n{chunk.text}"])[0]) > 0.999
        assert float(stored @ embedder.encode([chunk.text])[0]) < 0.99
    assert headed >= 3  # chunks that start inside a description
