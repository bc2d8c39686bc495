"""How the FAISS index keeps its vectors: as floats, or as 8-bit scalar-quantized codes; and the FAISS index over them.

``VectorCodec`` encodes and decodes stored vectors and makes the empty FAISS index (exact, or an HNSW graph)
that searches them. Sentence vectors are kept as float16 (``SENTENCE_DTYPE``) in either backend.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import faiss
import numpy as np

from rag.errors import CorruptIndexError

__all__ = ["HNSW_EF_SEARCH", "SENTENCE_DTYPE", "VectorCodec"]


# Sentence vectors are most of an index (several per chunk), and only rank a chunk's own sentences against
# one another: float16 halves them on disk and in memory, and changed no eval result.
SENTENCE_DTYPE = np.float16


# HNSW graph parameters: 32 links per node, a construction beam of 80, a search beam of 256. On the 13,763
# real sentence vectors of the 1k benchmark corpus, recall@10 against exact search is 1.00 for queries like
# the corpus's own text at any beam from 64, and 0.74 / 0.88 / 0.95 / 0.98 at beams 64 / 128 / 256 / 512 for
# questions the corpus does not answer (off-topic: their neighbours are near ties); 256 costs about twice
# the time of 128 and stays far under exact search at the sizes where HNSW is chosen.
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 256


# 8-bit codes span [-r, r] in every dimension, r being this many times the largest component in the first
# build's vectors. Ranges fitted per dimension to a small first build (the two seed articles) clipped 13% of
# the components of other documents (cosine to the float vector 0.963); twice the largest clipped none on the
# 1k-chunk benchmark corpus (cosine 0.9998, recall@10 against float32 0.989).
QUANTIZER_HEADROOM = 2.0


@dataclass(frozen=True)
class VectorCodec:
    """How an index keeps its vectors: as floats, or as 8-bit scalar-quantized codes.

    ``"float32"`` keeps chunk vectors as float32 and sentence vectors as float16. ``"int8"`` keeps both as
    one byte per dimension: FAISS's ``QT_8bit`` scalar quantizer, whose 256 steps per dimension span a range
    set once from the first build's vectors (``fit``), then kept, so that every segment shares one code
    book and compaction never re-quantizes. FAISS searches the codes directly.

    Attributes:
        storage: ``"float32"`` or ``"int8"``.
        ranges: For ``"int8"``: each dimension's minimum, then each one's width (FAISS's ``trained`` layout).
    """

    storage: str = "float32"
    ranges: tuple[float, ...] = ()

    @classmethod
    def fit(cls, storage: str, samples: Sequence[np.ndarray]) -> VectorCodec:
        """A codec for ``storage``; for ``"int8"``, its range set from ``samples`` (float unit vectors)."""
        if storage == "float32":
            return cls()
        if storage != "int8":
            raise ValueError(f"unknown vector storage {storage!r}")
        largest = max(float(np.abs(v).max()) for v in samples if len(v))
        reach = min(1.0, QUANTIZER_HEADROOM * largest)  # components of unit vectors are never past 1
        dimension = next(np.shape(v)[1] for v in samples if len(v))
        return cls("int8", (-reach,) * dimension + (2 * reach,) * dimension)

    @functools.cached_property
    def _quantizer(self) -> Any:
        # Made once per codec: building it took most of a 65 us decode, paid per passage per question.
        quantizer = faiss.ScalarQuantizer(len(self.ranges) // 2, faiss.ScalarQuantizer.QT_8bit)
        faiss.copy_array_to_vector(np.asarray(self.ranges, dtype=np.float32), quantizer.trained)
        return quantizer

    def encode_chunks(self, vectors: np.ndarray) -> np.ndarray:
        """Chunk vectors as stored: float32, or uint8 codes."""
        return self._encode(vectors, np.float32)

    def encode_sentences(self, vectors: np.ndarray) -> np.ndarray:
        """Sentence vectors as stored: float16, or uint8 codes."""
        return self._encode(vectors, SENTENCE_DTYPE)

    def _encode(self, vectors: np.ndarray, float_dtype: type) -> np.ndarray:
        if self.storage == "float32":
            return np.ascontiguousarray(vectors, dtype=float_dtype)
        return np.asarray(self._quantizer.compute_codes(np.ascontiguousarray(vectors, dtype=np.float32)))

    def decode(self, stored: np.ndarray) -> np.ndarray:
        """Stored vectors as floats (float16 sentence vectors stay float16)."""
        if self.storage == "float32":
            return stored
        return np.asarray(self._quantizer.decode(np.ascontiguousarray(stored)))

    def dtypes(self) -> tuple[type, type]:
        """The stored types of chunk and sentence vectors."""
        return (np.float32, SENTENCE_DTYPE) if self.storage == "float32" else (np.uint8, np.uint8)

    def new_index(self, index_type: str, dimension: int) -> Any:
        """An empty FAISS index for unit vectors of this codec, scored by inner product (= cosine)."""
        if index_type not in {"flat", "hnsw"}:
            raise CorruptIndexError(f"unknown index type {index_type!r}")
        index: Any
        ip, qt8 = faiss.METRIC_INNER_PRODUCT, faiss.ScalarQuantizer.QT_8bit
        if self.storage == "float32":
            index = faiss.IndexFlatIP(dimension) if index_type == "flat" else faiss.IndexHNSWFlat(dimension, HNSW_M, ip)
        else:
            index = faiss.IndexScalarQuantizer(dimension, qt8, ip) if index_type == "flat" else _hnsw_sq(dimension)
            codes: Any = index if index_type == "flat" else faiss.downcast_index(index.storage)
            faiss.copy_array_to_vector(np.asarray(self.ranges, dtype=np.float32), codes.sq.trained)
            codes.is_trained = index.is_trained = True  # trained by hand: the ranges are the code book
        if index_type == "hnsw":
            index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        return index


def _hnsw_sq(dimension: int) -> Any:
    constructor: Any = faiss.IndexHNSWSQ  # its stubs miss this (dimension, quantizer type, M, metric) form
    return constructor(dimension, faiss.ScalarQuantizer.QT_8bit, HNSW_M, faiss.METRIC_INNER_PRODUCT)
