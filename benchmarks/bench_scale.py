"""Scale benchmark: index build, incremental refresh, query latency, memory and disk at 1k/10k/100k chunks.

The corpus is real prose found on the machine (docstrings of installed Python code, ``corpus.py``). Each
size runs in its own child process, so peak memory is its own. All figures come from one run.

- Sizes up to ``--real-limit`` chunks (default 1,000) are embedded for real with the default embedder;
  their build throughput is printed next to raw ``SentenceTransformer.encode`` (torch) and ONNX throughput
  on the same chunk texts, the ceiling.
- Larger sizes would take about an hour per 100k chunks to embed on two cores, so their vectors are
  *synthetic*: deterministic per text, mixed from real MiniLM vectors of the small corpus plus noise. That
  measures everything but the model (chunking, indexing, writing, loading, refresh, search, BM25, the
  extractive answer) honestly; retrieval quality on them means nothing, and is not reported.
- Queries are the questions of evals/qa.jsonl, embedded for real; latency is the full extractive answer.
- Flat and HNSW search are compared on the same vectors: latency and recall@10 of HNSW against exact search.
  On synthetic vectors recall is a lower bound (they are near-duplicates of one another by construction), so
  the 1k size also reports HNSW recall over its real sentence vectors (some 14,000).
- Vector storage: float32 against 8-bit scalar-quantized codes (``vector_storage="int8"``): bytes, exact
  search latency, and recall@10 of int8 search against float32 search.
- Refresh with an HNSW index: the graph of the previous index grows by the changed file's chunks.
- ``--backends faiss,postgres`` (the default) also measures the Postgres + pgvector backend on the same
  documents and vectors, in the same child process: a PostgreSQL 16 + pgvector 0.6.2 from ``pgserver``
  on this machine's disk (its server processes share the two cores). Build, load, refresh, answer p50/p95,
  exact and HNSW search, HNSW build, and the size of its tables and indexes.

    python benchmarks/bench_scale.py [--sizes 1000,10000,100000] [--real-limit 1000] [--backends faiss,postgres]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = [json.loads(line)["question"] for line in (ROOT / "evals" / "qa.jsonl").read_text().splitlines() if line]
CACHE = Path(__file__).resolve().parent / ".cache"


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _synthetic_embedder(dimension: int, name: str):  # type: ignore[no-untyped-def]
    """Deterministic unit vectors per text, mixed from real vectors of the small corpus plus noise."""
    from rag.embeddings import Embedder

    pool = np.load(CACHE / "pool.npy")

    def encode(texts: list[str]) -> np.ndarray:
        out = np.empty((len(texts), dimension), dtype=np.float32)
        for i, text in enumerate(texts):
            seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
            rng = np.random.default_rng(seed)
            a, b = rng.integers(0, len(pool), 2)
            v = pool[a] + 0.5 * pool[b] + 0.15 * rng.standard_normal(dimension).astype(np.float32)
            out[i] = v / np.linalg.norm(v)
        return out

    return Embedder(name, dimension, "synthetic", encode)


def _int8_batch_embedder(settings):  # type: ignore[no-untyped-def]
    """An embedder that runs passages on the int8 model too (rag never does; measured for comparison)."""
    from rag.embeddings import _load_onnx_embedder, onnx_export_dir, quantize_onnx

    export = onnx_export_dir(settings.embedding_model, settings.cache_dir)
    quantized = quantize_onnx(export)
    assert quantized is not None
    folder = Path(tempfile.mkdtemp(prefix="int8-"))
    for file in export.iterdir():
        (folder / file.name).symlink_to(quantized if file.name == "model.onnx" else file)
    return _load_onnx_embedder(settings.embedding_model, folder, "float32")


def child(size: int, real: bool, work: Path, backends: str = "faiss,postgres") -> dict[str, float | str]:
    from corpus import build_corpus

    import rag
    from rag.embeddings import get_embedder
    from rag.indexing.faiss import sync_index
    from rag.stores.faiss import ChunkStore

    docs = build_corpus(size)
    settings = rag.Settings(docs_dir=work / "docs", index_dir=work / "index")
    shutil.copytree(docs, settings.docs_dir, ignore=shutil.ignore_patterns(".complete"))
    model = get_embedder(settings.embedding_model, cache_dir=settings.cache_dir)
    result: dict[str, float | str] = {"size": size, "vectors": "real" if real else "synthetic"}
    embedder = model if real else _synthetic_embedder(model.dimension, model.name)

    raw_before = None
    if real:
        # The ceiling is measured just before the build and again just after, on the same texts, and the
        # ratio taken against their mean: on this noisy machine one measurement a minute away misled by 20%.
        from sentence_transformers import SentenceTransformer

        from rag.embeddings import resolve_model_path
        from rag.ingest.chunking import chunk_document
        from rag.ingest.documents import load_documents

        st = SentenceTransformer(resolve_model_path(settings.embedding_model), device="cpu")
        same_texts = [
            chunk.text
            for doc in load_documents(settings.docs_dir)
            for chunk in chunk_document(doc, settings.chunk_size, settings.chunk_overlap)[1]
        ]
        st.encode(same_texts[:64], batch_size=32)
        t0 = time.perf_counter()
        st.encode(same_texts, batch_size=32)
        raw_before = len(same_texts) / (time.perf_counter() - t0)

    started = time.perf_counter()
    store, _ = sync_index(settings, embedder, progress=False, rebuild=True)
    build = time.perf_counter() - started
    result.update(
        chunks=len(store), build_s=build, build_chunks_per_s=len(store) / build, index_type=store.manifest.index_type
    )
    if real:
        texts = [c.text for c in store.chunks]
        np.save(CACHE / "pool.npy", store.chunk_vectors())
        assert raw_before is not None and sorted(texts) == sorted(same_texts)
        t0 = time.perf_counter()
        st.encode(texts, batch_size=32)
        raw_after = len(texts) / (time.perf_counter() - t0)
        result["raw_torch_before_after"] = f"{raw_before:.1f} / {raw_after:.1f}"
        result["raw_torch_chunks_per_s"] = (raw_before + raw_after) / 2
        t0 = time.perf_counter()
        model.encode(texts)
        result["raw_onnx_chunks_per_s"] = len(texts) / (time.perf_counter() - t0)
        int8_batches = _int8_batch_embedder(settings)
        t0 = time.perf_counter()
        int8_batches.encode(texts)
        result["raw_onnx_int8_chunks_per_s"] = len(texts) / (time.perf_counter() - t0)
        exact_queries = get_embedder(settings.embedding_model, cache_dir=settings.cache_dir, query_precision="float32")
        singles: dict[str, list[float]] = {"torch": [], "float32": [], "int8": []}
        for _ in range(3):
            for q in QUESTIONS:
                for label, embed in (
                    ("torch", lambda q: st.encode([q])),
                    ("float32", exact_queries.encode_one),
                    ("int8", model.encode_one),
                ):
                    t0 = time.perf_counter()
                    embed(q)
                    singles[label].append((time.perf_counter() - t0) * 1000)
        result["query_embed_torch_p50_ms"] = statistics.median(singles["torch"])
        result["query_embed_onnx_p50_ms"] = statistics.median(singles["float32"])
        result["query_embed_onnx_int8_p50_ms"] = statistics.median(singles["int8"])

    # Loading the index from disk, then incremental refreshes after one file changes: as `rag index` does
    # (reading the folder first), and as a running bot does (its index already in memory).
    started = time.perf_counter()
    ChunkStore.load(settings.index_dir)
    result["load_s"] = time.perf_counter() - started
    files = sorted(settings.docs_dir.iterdir())
    for key, changed in (("refresh_cold_s", files[len(files) // 2]), ("refresh_s", files[len(files) // 3])):
        changed.write_text(changed.read_text(encoding="utf-8") + "\n\nAn extra closing paragraph.", encoding="utf-8")
        started = time.perf_counter()
        current = store if key == "refresh_s" else None
        store, report = sync_index(settings, embedder, progress=False, current=current)
        result[key] = time.perf_counter() - started
        result["refresh_embedded_chunks"] = report.embedded_chunks

    # Loading and answering, as a user would (the query embedder is the real one). A bot builds BM25 in
    # the background as it starts, and derives it from the previous one after a refresh.
    from rag.answer.answerers import build_answerer

    started = time.perf_counter()
    bot = rag.Bot(settings, model, store, build_answerer(settings))
    assert bot._snapshot.retriever.bm25.size == len(store)  # waits for the background build
    result["bm25_build_s"] = time.perf_counter() - started
    changed = files[len(files) // 4]
    changed.write_text(changed.read_text(encoding="utf-8") + "\n\nOne more closing paragraph.", encoding="utf-8")
    started = time.perf_counter()
    bot.refresh()
    result["refresh_bot_s"] = time.perf_counter() - started
    started = time.perf_counter()
    assert bot._snapshot.retriever.bm25.size == len(bot.store)
    result["bm25_update_s"] = time.perf_counter() - started
    store = bot.store
    started = time.perf_counter()
    bot.ask(QUESTIONS[0])
    result["first_query_s"] = time.perf_counter() - started
    latencies = []
    for _ in range(3):
        for q in QUESTIONS:
            latencies.append(bot.ask(q).timings_ms["total"])
    result.update(answer_p50_ms=_pct(latencies, 0.5), answer_p95_ms=_pct(latencies, 0.95))

    # Flat versus HNSW on the same vectors.
    queries = model.encode(QUESTIONS)
    flat = store if store.manifest.index_type == "flat" else store.with_index_type("flat")
    t0 = time.perf_counter()
    hnsw = store if store.manifest.index_type == "hnsw" else store.with_index_type("hnsw")
    result["hnsw_build_s"] = time.perf_counter() - t0
    recalls, flat_ms, hnsw_ms = [], [], []
    for query in queries:
        t0 = time.perf_counter()
        exact = {r for r, _ in flat.search(query, 10)}
        flat_ms.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        approx = {r for r, _ in hnsw.search(query, 10)}
        hnsw_ms.append((time.perf_counter() - t0) * 1000)
        recalls.append(len(exact & approx) / len(exact))
    result.update(
        flat_search_p50_ms=statistics.median(flat_ms),
        hnsw_search_p50_ms=statistics.median(hnsw_ms),
        hnsw_recall_at_10=float(np.mean(recalls)),
        index_mb=sum(p.stat().st_size for p in settings.index_dir.rglob("*") if p.is_file()) / 1e6,
    )
    if real:
        result["hnsw_recall_real_sentences"] = _hnsw_recall_on_sentences(flat, queries)

    # A refresh of an HNSW index: the previous graph, copied, grows by the changed file's chunks.
    hnsw_settings = settings.replace(index_type="hnsw")
    hnsw.save(settings.index_dir)
    changed = files[len(files) // 5]
    changed.write_text(changed.read_text(encoding="utf-8") + "\n\nA last closing paragraph.", encoding="utf-8")
    started = time.perf_counter()
    sync_index(hnsw_settings, embedder, progress=False, current=hnsw)
    result["refresh_hnsw_s"] = time.perf_counter() - started

    # float32 vectors against 8-bit codes, on the same vectors: size, exact search, recall.
    from rag.stores.codec import VectorCodec

    samples = [flat.chunk_vectors(), *(flat.sentence_vectors_of(r) for r in range(min(len(flat), 5000)))]
    coded = flat.compacted(VectorCodec.fit("int8", samples))
    for label, candidate in (("float32", flat), ("int8", coded)):
        segment_bytes = sum(s.chunk_vectors.nbytes + s.sentence_vectors.nbytes for s in candidate.segments)
        result[f"vectors_{label}_mb"] = segment_bytes / 1e6
    int8_ms, int8_recalls = [], []
    for query in queries:
        exact = {r for r, _ in flat.search(query, 10)}
        t0 = time.perf_counter()
        approx = {r for r, _ in coded.search(query, 10)}
        int8_ms.append((time.perf_counter() - t0) * 1000)
        int8_recalls.append(len(exact & approx) / len(exact))
    result.update(int8_search_p50_ms=statistics.median(int8_ms), int8_recall_at_10=float(np.mean(int8_recalls)))
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if "postgres" in backends.split(","):
        result.update(_postgres(settings, embedder, model, work, files, queries))
    return result


def _postgres(settings, embedder, model, work: Path, files: list[Path], queries: np.ndarray) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """The same documents and vectors in PostgreSQL + pgvector (pgserver): build, refresh, answers, search, disk."""
    import pgserver

    import rag
    from rag.answer.answerers import build_answerer
    from rag.indexing.postgres import sync_postgres
    from rag.stores.postgres import PostgresStore
    from rag.stores.postgres_schema import connect

    server = pgserver.get_server(work / "pgdata", cleanup_mode="stop")
    out: dict[str, float] = {}
    try:
        pg = settings.replace(vector_backend="postgres", pg_dsn=server.get_uri(), index_type="flat")
        started = time.perf_counter()
        store, _ = sync_postgres(pg, embedder, progress=False, rebuild=True)
        out["pg_build_s"] = time.perf_counter() - started
        started = time.perf_counter()
        store = PostgresStore.load(pg)
        out["pg_load_s"] = time.perf_counter() - started
        changed = files[len(files) // 6]
        changed.write_text(changed.read_text(encoding="utf-8") + "\n\nA Postgres closing paragraph.", encoding="utf-8")
        started = time.perf_counter()
        store, report = sync_postgres(pg, embedder, progress=False, current=store)
        out["pg_refresh_s"] = time.perf_counter() - started
        assert report.action == "refreshed"
        bot = rag.Bot(pg, model, store, build_answerer(pg))
        started = time.perf_counter()
        bot.ask(QUESTIONS[0])
        out["pg_first_query_s"] = time.perf_counter() - started
        latencies = [bot.ask(q).timings_ms["total"] for _ in range(3) for q in QUESTIONS]
        out.update(pg_answer_p50_ms=_pct(latencies, 0.5), pg_answer_p95_ms=_pct(latencies, 0.95))
        exact_ms, exact_hits = [], []
        for query in queries:
            t0 = time.perf_counter()
            exact_hits.append({r for r, _ in store.search(query, 10)})
            exact_ms.append((time.perf_counter() - t0) * 1000)
        out["pg_exact_search_p50_ms"] = statistics.median(exact_ms)
        with connect(str(pg.pg_dsn)) as conn:
            size = "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'rag' AND c.relkind = 'r'"  # noqa: E501
            out["pg_disk_mb"] = float(conn.execute(size).fetchone()[0]) / 1e6
            started = time.perf_counter()
            hnsw_store, report = sync_postgres(pg.replace(index_type="hnsw"), embedder, progress=False, current=store)
            out["pg_hnsw_build_s"] = time.perf_counter() - started
            assert hnsw_store.manifest.index_type == "hnsw" and report.embedded_chunks == 0
            out["pg_hnsw_disk_mb"] = float(conn.execute(size).fetchone()[0]) / 1e6
        hnsw_ms, recalls = [], []
        for query, exact in zip(queries, exact_hits, strict=True):
            t0 = time.perf_counter()
            approx = {r for r, _ in hnsw_store.search(query, 10)}
            hnsw_ms.append((time.perf_counter() - t0) * 1000)
            recalls.append(len(exact & approx) / max(len(exact), 1))
        out.update(pg_hnsw_search_p50_ms=statistics.median(hnsw_ms), pg_hnsw_recall_at_10=float(np.mean(recalls)))
    finally:
        server.cleanup()
    return out


def _hnsw_recall_on_sentences(store, queries: np.ndarray) -> float:  # type: ignore[no-untyped-def]
    """Recall@10 of HNSW (rag's parameters) against exact search, over the real sentence vectors of ``store``."""
    import faiss

    from rag.stores.codec import HNSW_EF_SEARCH, VectorCodec

    # Each sentence once (one in the overlap of two chunks would otherwise tie with its own copy).
    vectors = np.unique(np.vstack([store.sentence_vectors_of(r) for r in range(len(store))]), axis=0)
    vectors = vectors.astype(np.float32)
    exact = faiss.IndexFlatIP(vectors.shape[1])
    exact.add(vectors)
    graph = VectorCodec().new_index("hnsw", vectors.shape[1])
    graph.add(vectors)
    graph.hnsw.efSearch = HNSW_EF_SEARCH
    _, want = exact.search(queries.astype(np.float32), 10)
    _, got = graph.search(queries.astype(np.float32), 10)
    return float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(want, got, strict=True)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--real-limit", type=int, default=1000)
    parser.add_argument("--child", type=int)
    parser.add_argument("--work", type=Path)
    parser.add_argument("--backends", default="faiss,postgres", help="faiss, or faiss,postgres (default)")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.child <= args.real_limit, args.work, args.backends)))
        return
    CACHE.mkdir(exist_ok=True)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    if sizes[0] > args.real_limit and not (CACHE / "pool.npy").is_file():
        sizes.insert(0, min(1000, args.real_limit))  # synthetic vectors are mixed from a real pool
    rows = []
    for size in sizes:
        work = Path(tempfile.mkdtemp(prefix=f"bench-scale-{size}-"))
        try:
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    str(size),
                    "--work",
                    str(work),
                    "--real-limit",
                    str(args.real_limit),
                    "--backends",
                    args.backends,
                ],
                capture_output=True,
                text=True,
                check=False,
                env={**os.environ, "HF_HUB_OFFLINE": "1"},
            )
            if out.returncode != 0:
                print(out.stderr[-3000:], file=sys.stderr)
                raise SystemExit(f"size {size} failed")
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        finally:
            shutil.rmtree(work, ignore_errors=True)
        print(f"done: {size}", file=sys.stderr, flush=True)

    print(f"Scale benchmark on {os.cpu_count()} CPU cores, corpus: docstrings of installed Python code\n")
    fields = [
        ("chunks", "chunks", "{:.0f}"),
        ("vectors", "vectors", "{}"),
        ("index_type", "index type (auto)", "{}"),
        ("build_s", "index build (s)", "{:.1f}"),
        ("build_chunks_per_s", "build throughput (chunks/s)", "{:.1f}"),
        ("raw_torch_before_after", "raw SentenceTransformer.encode, before / after the build (chunks/s)", "{}"),
        ("raw_torch_chunks_per_s", "raw SentenceTransformer.encode, mean of both (chunks/s)", "{:.1f}"),
        ("raw_onnx_chunks_per_s", "raw ONNX float32 encode (chunks/s)", "{:.1f}"),
        ("raw_onnx_int8_chunks_per_s", "raw ONNX int8 encode (chunks/s)", "{:.1f}"),
        ("query_embed_torch_p50_ms", "one query embedding, torch p50 (ms)", "{:.2f}"),
        ("query_embed_onnx_p50_ms", "one query embedding, ONNX float32 p50 (ms)", "{:.2f}"),
        ("query_embed_onnx_int8_p50_ms", "one query embedding, ONNX int8 p50 (ms)", "{:.2f}"),
        ("load_s", "load the index from disk (s)", "{:.2f}"),
        ("refresh_cold_s", "refresh after changing one file, from disk (s)", "{:.2f}"),
        ("refresh_s", "refresh after changing one file, index loaded (s)", "{:.2f}"),
        ("refresh_embedded_chunks", "chunks re-embedded by that refresh", "{:.0f}"),
        ("refresh_bot_s", "refresh after changing one file, running bot (s)", "{:.2f}"),
        ("refresh_hnsw_s", "refresh after changing one file, HNSW index loaded (s)", "{:.2f}"),
        ("bm25_build_s", "BM25 build as a bot starts, in the background (s)", "{:.2f}"),
        ("bm25_update_s", "BM25 derived after that refresh (s)", "{:.2f}"),
        ("first_query_s", "first hybrid query once BM25 is built (s)", "{:.3f}"),
        ("answer_p50_ms", "full extractive answer p50 (ms)", "{:.1f}"),
        ("answer_p95_ms", "full extractive answer p95 (ms)", "{:.1f}"),
        ("flat_search_p50_ms", "flat search p50 (ms)", "{:.2f}"),
        ("hnsw_search_p50_ms", "HNSW search p50 (ms)", "{:.2f}"),
        ("hnsw_recall_at_10", "HNSW recall@10 vs flat (chunk vectors)", "{:.3f}"),
        ("hnsw_recall_real_sentences", "HNSW recall@10 vs flat, real sentence vectors", "{:.3f}"),
        ("hnsw_build_s", "HNSW build from vectors (s)", "{:.1f}"),
        ("index_mb", "index size on disk (MB)", "{:.1f}"),
        ("vectors_float32_mb", "vectors, float32 storage (MB)", "{:.1f}"),
        ("vectors_int8_mb", "vectors, int8 storage (MB)", "{:.1f}"),
        ("int8_search_p50_ms", "exact search over int8 codes p50 (ms)", "{:.2f}"),
        ("int8_recall_at_10", "int8 recall@10 vs float32", "{:.3f}"),
        ("peak_rss_mb", "peak RSS (MB)", "{:.0f}"),
        ("pg_build_s", "postgres: index build, embedding included (s)", "{:.1f}"),
        ("pg_load_s", "postgres: load the chunk list (s)", "{:.2f}"),
        ("pg_refresh_s", "postgres: refresh after changing one file, index loaded (s)", "{:.2f}"),
        ("pg_first_query_s", "postgres: first hybrid query (s)", "{:.3f}"),
        ("pg_answer_p50_ms", "postgres: full extractive answer p50 (ms)", "{:.1f}"),
        ("pg_answer_p95_ms", "postgres: full extractive answer p95 (ms)", "{:.1f}"),
        ("pg_exact_search_p50_ms", "postgres: exact search p50 (ms)", "{:.2f}"),
        ("pg_hnsw_build_s", "postgres: HNSW build (m 16, ef_construction 64) (s)", "{:.1f}"),
        ("pg_hnsw_search_p50_ms", "postgres: HNSW search p50 (ms)", "{:.2f}"),
        ("pg_hnsw_recall_at_10", "postgres: HNSW recall@10 vs exact", "{:.3f}"),
        ("pg_disk_mb", "postgres: tables and indexes, no HNSW (MB)", "{:.1f}"),
        ("pg_hnsw_disk_mb", "postgres: tables and indexes, with HNSW (MB)", "{:.1f}"),
    ]
    print("| measure | " + " | ".join(f"{r['size']:,}" for r in rows) + " |")
    print("|---|" + "---|" * len(rows))
    for key, label, fmt in fields:
        cells = [fmt.format(r[key]) if key in r else "n/a" for r in rows]
        print(f"| {label} | " + " | ".join(cells) + " |")
    for r in rows:
        if "raw_torch_chunks_per_s" in r:
            ratio = float(r["build_chunks_per_s"]) / float(r["raw_torch_chunks_per_s"])
            print(f"\n{r['size']:,}: build throughput = {ratio:.2f}x raw SentenceTransformer.encode (target >= 0.90)")
            same = float(r["build_chunks_per_s"]) / float(r["raw_onnx_chunks_per_s"])
            print(
                f"{r['size']:,}: build throughput = {same:.2f}x raw encode on the backend that built it (ONNX float32)"
            )
    big = [r for r in rows if int(r["size"]) >= 100_000]
    for r in big:
        verdict = "met" if float(r["answer_p50_ms"]) < 60 else "MISSED"
        print(f"{r['size']:,}: full answer p50 {float(r['answer_p50_ms']):.1f} ms (target < 60 ms): {verdict}")


if __name__ == "__main__":
    main()
