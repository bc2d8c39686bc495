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


def test_span_vectors_are_pooled_in_context_the_same_way_on_both_backends(tmp_path: Path) -> None:
    name = Settings().embedding_model
    torch_embedder = get_embedder(name, backend="torch")
    onnx_embedder = get_embedder(name, backend="onnx", cache_dir=tmp_path)
    text = "KT signed a deal with Microsoft. It covers cloud and AI services for Korean companies."
    long_text = "Filler words about nothing in particular. " * 60 + "The last sentence is past the limit."
    spans = [[(0, 32), (33, len(text)), (0, len(text))], [(0, 41), (len(long_text) - 36, len(long_text))]]
    vectors, pooled = onnx_embedder.encode_with_spans([text, long_text], spans)
    torch_vectors, torch_pooled = torch_embedder.encode_with_spans([text, long_text], spans)
    assert vectors.shape == (2, 384) and pooled.shape == (5, 384)
    np.testing.assert_allclose(vectors, onnx_embedder.encode([text, long_text]), atol=1e-5)
    np.testing.assert_allclose(torch_vectors, vectors, atol=1e-4)
    np.testing.assert_allclose(pooled, torch_pooled, atol=1e-3)
    np.testing.assert_allclose(np.linalg.norm(pooled, axis=1), 1.0, atol=1e-5)
    # A span covering every word is nearly the text's own vector (which also averages the [CLS] and [SEP]
    # tokens); a sentence read in context differs from the same sentence embedded alone, but stays close.
    assert 0.99 < float(pooled[2] @ vectors[0]) < 1.0
    alone = onnx_embedder.encode([text[33:]])[0]
    assert 0.6 < float(pooled[1] @ alone) < 0.999
    # The model reads 256 tokens: a sentence beyond them is embedded on its own instead.
    np.testing.assert_allclose(pooled[4], onnx_embedder.encode([long_text[-36:]])[0], atol=1e-5)
