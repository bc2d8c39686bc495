"""Ingestion benchmark: embedding chunks in one process against Ray Data over an actor pool, same chunks, one run.

Chunks the benchmark corpus (``benchmarks/corpus.py``: real prose, nothing downloaded), then embeds the same
chunks, with their sentence spans, (1) in this process, exactly as ``rag index`` does, and (2) with
``rag.indexing.ray.RayEmbedder`` on a local Ray (``--actors`` actors, each loading the model once), as
``rag index --ray`` does. Reports chunks/s for both, Ray's start-up time apart, and the largest difference
between the two sets of vectors.

    python benchmarks/bench_ingest.py [--chunks 600] [--actors 2] [--address ray://head:10001]

On one machine Ray cannot beat one process that already uses every core: the point of Ray is more
machines. The table says what the per-actor rate is, which is what each added machine contributes.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import numpy as np  # noqa: E402
from corpus import build_corpus  # noqa: E402

from rag.config import Settings  # noqa: E402
from rag.embeddings import get_embedder  # noqa: E402
from rag.indexing.ray import RayEmbedder, ray_session  # noqa: E402
from rag.ingest.chunking import chunk_document  # noqa: E402
from rag.ingest.documents import load_documents  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=600)
    parser.add_argument("--actors", type=int, default=2)
    parser.add_argument("--address", help="a Ray cluster to use instead of a local Ray")
    args = parser.parse_args()

    settings = Settings()
    documents = load_documents(build_corpus(args.chunks))
    chunks = [c for doc in documents for c in chunk_document(doc, settings.chunk_size, settings.chunk_overlap)[1]]
    chunks = chunks[: args.chunks]
    texts = [c.text for c in chunks]
    spans = [[(s.start - c.start, s.end - c.start) for s in c.sentences] for c in chunks]
    embedder = get_embedder(settings.embedding_model, cache_dir=settings.cache_dir)
    print(f"{len(chunks)} chunks, {sum(map(len, spans))} sentences, backend {embedder.backend}, {os.cpu_count()} CPUs")

    embedder.encode_with_spans(texts[:8], spans[:8])  # warm the model
    started = time.perf_counter()
    single = embedder.encode_with_spans(texts, spans)
    single_s = time.perf_counter() - started

    with tempfile.TemporaryDirectory(prefix="rag-ray-") as temp:
        started = time.perf_counter()
        with ray_session(args.address, num_cpus=args.actors, temp_dir=Path(temp)):
            ray_start_s = time.perf_counter() - started
            wrapped = RayEmbedder.wrapping(embedder, args.actors, cache_dir=settings.cache_dir)
            started = time.perf_counter()
            on_ray = wrapped.encode_with_spans(texts, spans)
            ray_s = time.perf_counter() - started
    difference = max(float(np.abs(a - b).max()) for a, b in zip(single, on_ray, strict=True))

    print()
    print("| path | chunks | seconds | chunks/s |")
    print("|---|---:|---:|---:|")
    print(f"| one process | {len(chunks)} | {single_s:.1f} | {len(chunks) / single_s:.1f} |")
    print(f"| Ray, {args.actors} actors (incl. actor start and model load) | {len(chunks)} | {ray_s:.1f} | "
          f"{len(chunks) / ray_s:.1f} |")  # fmt: skip
    print(f"\nRay start: {ray_start_s:.1f} s; Ray / one process: {single_s / ray_s:.2f}x; "
          f"largest vector difference: {difference:.1e}")  # fmt: skip


if __name__ == "__main__":
    main()
