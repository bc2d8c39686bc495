from __future__ import annotations

from pathlib import Path

import numpy as np

from rag.config import Settings
from rag.embeddings import get_embedder, onnx_export_dir, quantize_onnx


def test_onnx_export_gives_the_same_vectors_as_sentence_transformers(tmp_path: Path) -> None:
    name = Settings().embedding_model
    torch_embedder = get_embedder(name, backend="torch")
    onnx_embedder = get_embedder(name, backend="onnx", cache_dir=tmp_path)
    assert (torch_embedder.backend, onnx_embedder.backend) == ("torch", "onnx")
    texts = ["Who signed?", "KT and Microsoft " * 60, "Mi:dm was trained on over one trillion tokens."]
    a, b = torch_embedder.encode(texts), onnx_embedder.encode(texts)
    assert a.shape == b.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert float(np.abs(a - b).max()) < 1e-4
    # The export is reused by the next "auto" lookup.
    assert get_embedder(name, backend="auto", cache_dir=tmp_path) is onnx_embedder


def test_questions_run_on_int8_weights_and_stay_close_to_float32(tmp_path: Path) -> None:
    name = Settings().embedding_model
    exact = get_embedder(name, backend="onnx", cache_dir=tmp_path, query_precision="float32")
    quick = get_embedder(name, backend="onnx", cache_dir=tmp_path, query_precision="int8")
    assert (exact.query_precision, quick.query_precision) == ("float32", "int8")
    # Quantized once, then reused from the export's folder.
    quantized = quantize_onnx(onnx_export_dir(name, tmp_path))
    assert quantized is not None and quantized.is_file() and quantize_onnx(quantized.parent) == quantized
    questions = ["Who signed the agreement?", "When will KT and Microsoft reveal the details of the partnership?"]
    passages = exact.encode(questions)
    for question, passage_vector in zip(questions, passages, strict=True):
        # float32 questions are embedded exactly like passages; int8 ones differ a little, never much.
        np.testing.assert_allclose(exact.encode_one(question), passage_vector, atol=1e-5)
        cosine = float(quick.encode_one(question) @ passage_vector)
        assert 0.97 <= cosine < 0.99999
    # Passages never run on int8: the index keeps exact vectors whatever the question precision.
    np.testing.assert_allclose(quick.encode(questions), passages, atol=1e-6)
