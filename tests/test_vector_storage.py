"""Scalar-quantized (int8) vector storage: sizes, search quality, switching, refresh and compaction."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rag.config import Settings
from rag.embeddings import Embedder
from rag.errors import CorruptIndexError
from rag.indexing.faiss import sync_index
from rag.stores.faiss import ChunkStore
from tests.conftest import ANALYSIS

QUESTIONS = [
    "Who signed the deal?",
    "How much will KT invest in AI?",
    "What will KT and Microsoft build together?",
    "SK Telecom and AWS",
]


def _segment(index_dir: Path) -> Path:
    """The one segment the index's manifest uses (the previous save's may still be on disk)."""
    (segment,) = json.loads((index_dir / "manifest.json").read_text())["segments"]
    return index_dir / segment


def test_int8_index_stores_one_byte_per_dimension_and_ranks_like_float32(
    settings: Settings, embedder: Embedder, tmp_path: Path
) -> None:
    exact, _ = sync_index(settings, embedder, progress=False)
    coded_settings = settings.replace(index_dir=tmp_path / "int8", vector_storage="int8")
    coded, report = sync_index(coded_settings, embedder, progress=False)
    assert report.action == "built" and coded.manifest.vector_storage == "int8"

    for name, dtype in (("vectors.npy", np.uint8), ("sentences.npy", np.uint8)):
        stored = np.load(_segment(coded_settings.index_dir) / name)
        floats = np.load(_segment(settings.index_dir) / name)
        assert stored.dtype == dtype and stored.shape == floats.shape
        assert stored.nbytes * floats.itemsize == floats.nbytes  # a quarter of float32, half of float16

    decoded, original = coded.chunk_vectors(), exact.chunk_vectors()
    cosines = (decoded * original).sum(axis=1) / np.linalg.norm(decoded, axis=1)
    assert cosines.min() > 0.999
    for row in range(len(coded)):
        np.testing.assert_allclose(coded.sentence_vectors_of(row), exact.sentence_vectors_of(row), atol=5e-3)
    for question in QUESTIONS:
        query = embedder.encode_one(question)
        got = coded.search(query, 4)
        want = exact.search(query, 4)
        # Codes move a cosine by up to about 3e-3, so two passages closer than that may swap places; any
        # other difference in the ranking is a defect.
        exact_score = dict(exact.search(query, len(exact)))
        cutoff = want[-1][1] - 5e-3
        assert all(exact_score[r] >= cutoff for r, _ in got), (question, got, want)
        assert got[0][0] == want[0][0], question
        np.testing.assert_allclose([s for _, s in got], [exact_score[r] for r, _ in got], atol=5e-3)


def test_loading_an_int8_index_gives_the_same_search(settings: Settings, embedder: Embedder) -> None:
    coded_settings = settings.replace(vector_storage="int8")
    built, _ = sync_index(coded_settings, embedder, progress=False)
    loaded = ChunkStore.load(settings.index_dir)
    query = embedder.encode_one(QUESTIONS[0])
    assert loaded.search(query, 5) == built.search(query, 5)
    np.testing.assert_array_equal(loaded.sentence_vectors_of(0), built.sentence_vectors_of(0))


def test_switching_to_int8_re_encodes_without_embedding_and_auto_keeps_it(
    settings: Settings, embedder: Embedder
) -> None:
    exact, _ = sync_index(settings, embedder, progress=False)
    coded, report = sync_index(settings.replace(vector_storage="int8"), embedder, progress=False)
    assert report.action == "refreshed" and report.embedded_chunks == 0
    assert "vector storage float32 -> int8" in report.reason
    assert np.load(_segment(settings.index_dir) / "vectors.npy").dtype == np.uint8
    query = embedder.encode_one(QUESTIONS[1])
    assert [r for r, _ in coded.search(query, 3)] == [r for r, _ in exact.search(query, 3)]

    # "auto" (the default) keeps what the index has: no rewrite, no re-embedding.
    assert Settings().vector_storage == "auto"
    again, report = sync_index(settings, embedder, progress=False)
    assert report.action == "reused" and again.manifest.vector_storage == "int8"

    # Back to float32 needs the precision the codes lost: everything is embedded again.
    back, report = sync_index(settings.replace(vector_storage="float32"), embedder, progress=False)
    assert report.action == "built" and report.embedded_chunks == len(back)
    assert "vector_storage 'int8' -> 'float32'" in report.reason
    np.testing.assert_allclose(back.chunk_vectors(), exact.chunk_vectors(), atol=1e-5)


def test_int8_refresh_keeps_the_code_book_and_compaction_keeps_the_codes(
    settings: Settings, embedder: Embedder
) -> None:
    coded_settings = settings.replace(vector_storage="int8")
    first, _ = sync_index(coded_settings, embedder, progress=False)
    ranges = first.manifest.vector_ranges
    kept_rows = [i for i, c in enumerate(first.chunks) if c.source == ANALYSIS]
    kept_codes = first.chunk_vectors(kept_rows)

    (settings.docs_dir / "002_added.txt").write_text(
        "Samsung announced a new memory chip plant in Pyeongtaek. It will open in 2028.", encoding="utf-8"
    )
    refreshed, report = sync_index(coded_settings, embedder, progress=False)
    assert report.added == ["002_added.txt"] and report.embedded_chunks == 1
    assert refreshed.manifest.vector_ranges == ranges
    added_row = next(i for i, c in enumerate(refreshed.chunks) if c.source == "002_added.txt")
    answer = refreshed.search(embedder.encode_one("Where will Samsung build its memory chip plant?"), 1)
    assert answer[0][0] == added_row

    compacted = refreshed.compacted()
    assert len(compacted.segments) == 1 and compacted.manifest.vector_ranges == ranges
    np.testing.assert_array_equal(compacted.chunk_vectors(), refreshed.chunk_vectors())
    rows = [i for i, c in enumerate(compacted.chunks) if c.source == ANALYSIS]
    np.testing.assert_array_equal(compacted.chunk_vectors(rows), kept_codes)


def test_int8_with_hnsw_saves_and_loads(settings: Settings, embedder: Embedder) -> None:
    coded_settings = settings.replace(vector_storage="int8", index_type="hnsw")
    built, _ = sync_index(coded_settings, embedder, progress=False)
    assert "HNSWSQ" in type(built.index).__name__
    loaded = ChunkStore.load(settings.index_dir)
    assert "HNSWSQ" in type(loaded.index).__name__
    query = embedder.encode_one(QUESTIONS[2])
    assert loaded.search(query, 3) == built.search(query, 3)
    flat, _ = sync_index(coded_settings.replace(index_type="flat"), embedder, progress=False)
    assert [r for r, _ in flat.search(query, 3)] == [r for r, _ in loaded.search(query, 3)]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("vector_storage", "int4", "vector storage 'int4' is unknown"),
        ("vector_ranges", [0.0, 1.0], "vector storage 'int8' is unknown"),
    ],
)
def test_a_manifest_with_a_bad_vector_storage_is_refused(
    settings: Settings, embedder: Embedder, field: str, value: object, message: str
) -> None:
    sync_index(settings.replace(vector_storage="int8"), embedder, progress=False)
    path = settings.index_dir / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest[field] = value
    path.write_text(json.dumps(manifest))
    with pytest.raises(CorruptIndexError, match=message):
        ChunkStore.load(settings.index_dir)


def test_a_float_index_whose_vectors_were_swapped_for_codes_is_refused(settings: Settings, embedder: Embedder) -> None:
    """Codes in a float32 index (with a checksum to match) are caught by their type, not read as floats."""
    import hashlib

    sync_index(settings, embedder, progress=False)
    segment = _segment(settings.index_dir)
    np.save(segment / "vectors.npy", np.zeros((len(np.load(segment / "vectors.npy")), 384), dtype=np.uint8))
    path = settings.index_dir / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["checksums"][f"{segment.name}/vectors.npy"] = hashlib.sha256(
        (segment / "vectors.npy").read_bytes()
    ).hexdigest()
    path.write_text(json.dumps(manifest))
    with pytest.raises(CorruptIndexError, match="uint8"):
        ChunkStore.load(settings.index_dir)
