"""The index on disk: reuse, incremental refresh, corruption, atomic saves and the lock."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from rag.config import Settings
from rag.embeddings import Embedder
from rag.errors import CorruptIndexError, RagError
from rag.indexing import sync_index
from rag.store import ChunkStore
from tests.conftest import ANALYSIS, SIGNING


def _files(index_dir: Path) -> dict[str, float]:
    return {p.name: p.stat().st_mtime_ns for p in index_dir.iterdir()}


def test_build_then_reuse_without_writing(settings: Settings, embedder: Embedder) -> None:
    store, report = sync_index(settings, embedder, progress=False)
    assert report.action == "built" and report.embedded_chunks == len(store) > 0
    assert sorted(p.name for p in settings.index_dir.iterdir()) == [
        "chunks.jsonl",
        "manifest.json",
        "sentences.npy",
        "vectors.faiss",
    ]
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
    assert manifest["format_version"] == 1


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
    # Sentence rows still point at the right vectors after the reshuffle.
    for chunk, rows in zip(store.chunks, store.sentence_rows, strict=True):
        fresh = embedder.encode([chunk.sentence_text(chunk.sentences[0])])[0]
        assert float(store.sentence_vectors[rows[0]] @ fresh) > 0.999


def test_changed_chunk_settings_rebuild_everything(settings: Settings, embedder: Embedder) -> None:
    sync_index(settings, embedder, progress=False)
    smaller = settings.replace(chunk_size=400, chunk_overlap=80)
    store, report = sync_index(smaller, embedder, progress=False)
    assert report.action == "built" and "chunk_size 800 -> 400" in report.reason
    assert all(len(c.text) <= 400 for c in store.chunks)


@pytest.mark.parametrize("damage", ["truncate_vectors", "edit_docstore", "garble_manifest", "delete_sentences"])
def test_a_damaged_index_is_detected_and_rebuilt(settings: Settings, embedder: Embedder, damage: str) -> None:
    sync_index(settings, embedder, progress=False)
    folder = settings.index_dir
    if damage == "truncate_vectors":
        data = (folder / "vectors.faiss").read_bytes()
        (folder / "vectors.faiss").write_bytes(data[: len(data) // 2])
    elif damage == "edit_docstore":
        text = (folder / "chunks.jsonl").read_text()
        (folder / "chunks.jsonl").write_text(text.replace("Redmond", "Seattle"))
    elif damage == "garble_manifest":
        (folder / "manifest.json").write_text("{not json")
    else:
        (folder / "sentences.npy").unlink()
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


def test_an_interrupted_swap_restores_the_previous_index(settings: Settings, embedder: Embedder) -> None:
    store, _ = sync_index(settings, embedder, progress=False)
    # Simulate a crash between the two renames of a save: the old index is aside, the new one never arrived.
    os.replace(settings.index_dir, settings.index_dir.with_name(".index.old"))
    restored = ChunkStore.load(settings.index_dir)
    assert [c.id for c in restored.chunks] == [c.id for c in store.chunks]


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
    undo = _make_read_only(settings.index_dir.parent)
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
