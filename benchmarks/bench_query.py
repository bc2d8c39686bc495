"""Query benchmark: this project's pipeline beside the naive LangChain pipeline, measured in one run.

Naive pipeline: RecursiveCharacterTextSplitter(1000, 200) + HuggingFaceEmbeddings (same MiniLM model) +
FAISS.from_documents + similarity_search(k=4). Each pipeline runs in its own child processes, so peak memory
and cold start are its own:

- build: time to chunk, embed and index the seed documents (model already loaded);
- cold start: process start to first answer with the index already on disk (wall clock, measured outside);
- retrieve p50/p95 and answer p50/p95 over every question of evals/qa.jsonl (20 passes, after warm-up);
- peak RSS of the process that built and queried.

Targets (DEVELOPERS.md / issue 2): full extractive answer p50 <= 1.5x the naive pipeline's retrieval-only
p50; cold start under 4 s. Run with ``python benchmarks/bench_query.py`` (or ``make bench``).
"""

from __future__ import annotations

import argparse
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

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = [json.loads(line)["question"] for line in (ROOT / "evals" / "qa.jsonl").read_text().splitlines() if line]
PASSES = 20


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(0.95 * (len(ordered) - 1))]


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_ours(work: Path, phase: str) -> dict[str, float]:
    import rag

    if phase == "cold":
        bot = rag.load(work / "docs", work / "index", progress=False)
        bot.ask(QUESTIONS[0])
        return {}
    started = time.perf_counter()
    bot = rag.load(work / "docs", work / "index", progress=False, rebuild=True)
    build = time.perf_counter() - started
    for q in QUESTIONS:  # warm-up
        bot.ask(q)
    retrieve, answer = [], []
    for _ in range(PASSES):
        for q in QUESTIONS:
            t0 = time.perf_counter()
            bot.retrieve(q)
            t1 = time.perf_counter()
            bot.ask(q)
            t2 = time.perf_counter()
            retrieve.append((t1 - t0) * 1000)
            answer.append((t2 - t1) * 1000)
    r50, r95 = _percentiles(retrieve)
    a50, a95 = _percentiles(answer)
    return {"build_s": build, "retrieve_p50": r50, "retrieve_p95": r95, "answer_p50": a50, "answer_p95": a95}


def child_naive(work: Path, phase: str) -> dict[str, float]:
    from langchain_community.vectorstores import FAISS
    from langchain_core.documents import Document
    from langchain_huggingface import HuggingFaceEmbeddings
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from rag.embeddings import resolve_model_path

    embeddings = HuggingFaceEmbeddings(model_name=resolve_model_path("all-MiniLM-L6-v2"))
    if phase == "cold":
        # Our own file, written by the full phase of this benchmark, so unpickling it is safe here.
        store = FAISS.load_local(str(work / "naive"), embeddings, allow_dangerous_deserialization=True)
        store.similarity_search(QUESTIONS[0], k=4)
        return {}
    started = time.perf_counter()
    docs = [
        Document(p.read_text(encoding="utf-8"), metadata={"source": p.name}) for p in sorted((work / "docs").iterdir())
    ]
    chunks = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200).split_documents(docs)
    store = FAISS.from_documents(chunks, embeddings)
    build = time.perf_counter() - started
    store.save_local(str(work / "naive"))
    for q in QUESTIONS:
        store.similarity_search(q, k=4)
    retrieve = []
    for _ in range(PASSES):
        for q in QUESTIONS:
            t0 = time.perf_counter()
            store.similarity_search(q, k=4)
            retrieve.append((time.perf_counter() - t0) * 1000)
    r50, r95 = _percentiles(retrieve)
    return {"build_s": build, "retrieve_p50": r50, "retrieve_p95": r95}


def run_child(pipeline: str, phase: str, work: Path) -> tuple[dict[str, float], float]:
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, __file__, "--child", pipeline, "--phase", phase, "--work", str(work)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1"},
    )
    wall = time.perf_counter() - started
    return json.loads(out.stdout.strip().splitlines()[-1]), wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", choices=["ours", "naive"])
    parser.add_argument("--phase", choices=["full", "cold"], default="full")
    parser.add_argument("--work", type=Path)
    args = parser.parse_args()
    if args.child:
        fn = child_ours if args.child == "ours" else child_naive
        result = fn(args.work, args.phase)
        result["peak_rss_mb"] = _peak_rss_mb()
        print(json.dumps(result))
        return

    work = Path(tempfile.mkdtemp(prefix="bench-query-"))
    try:
        shutil.copytree(ROOT / "seeds", work / "docs")
        ours, _ = run_child("ours", "full", work)
        naive, _ = run_child("naive", "full", work)
        colds = {name: min(run_child(name, "cold", work)[1] for _ in range(3)) for name in ("ours", "naive")}
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"Query benchmark: {len(QUESTIONS)} questions x {PASSES} passes, seed corpus, {os.cpu_count()} CPU cores\n")
    rows = [
        ("index build (s)", ours["build_s"], naive["build_s"]),
        ("cold start to first answer (s, best of 3)", colds["ours"], colds["naive"]),
        ("retrieve p50 (ms)", ours["retrieve_p50"], naive["retrieve_p50"]),
        ("retrieve p95 (ms)", ours["retrieve_p95"], naive["retrieve_p95"]),
        ("full answer p50 (ms)", ours["answer_p50"], None),
        ("full answer p95 (ms)", ours["answer_p95"], None),
        ("peak RSS, build + queries (MB)", ours["peak_rss_mb"], naive["peak_rss_mb"]),
    ]
    print(f"| {'measure':<42} | {'rag':>9} | {'naive LangChain':>15} | {'rag / naive':>11} |")
    print(f"|{'-' * 44}|{'-' * 11}|{'-' * 17}|{'-' * 13}|")
    for label, mine, theirs in rows:
        ratio = f"{mine / theirs:.2f}x" if theirs else ""
        theirs_text = f"{theirs:.2f}" if theirs is not None else "n/a"
        print(f"| {label:<42} | {mine:9.2f} | {theirs_text:>15} | {ratio:>11} |")
    target = ours["answer_p50"] / naive["retrieve_p50"]
    verdict = "met" if target <= 1.5 else "MISSED"
    print(f"\nfull answer p50 / naive retrieval p50 = {target:.2f}x (target <= 1.5x): {verdict}")
    print(f"cold start {colds['ours']:.2f} s (target < 4 s): {'met' if colds['ours'] < 4 else 'MISSED'}")


if __name__ == "__main__":
    main()
