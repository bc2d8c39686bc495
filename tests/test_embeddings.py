from __future__ import annotations

from pathlib import Path

import numpy as np

from rag.config import Settings
from rag.embeddings import get_embedder


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
