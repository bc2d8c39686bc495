"""Collections benchmark: asking in one 10k-chunk collection among ten, against a lone 10k-chunk index.

The issue's bar: asking in a collection of 10k chunks while nine other collections of 10k chunks exist costs
at most 1.2x asking in a lone 10k-chunk index, and memory grows with the collections actually used, not with
all of them.

- One corpus of synthetic prose (``--chunks`` chunks, default 10,000) is indexed once with synthetic vectors
  (deterministic per text: embedding 100k chunks for real takes hours on two cores, and the model is not
  what is measured here), then copied: a lone index, and ten collections registered in one registry (each
  its own docs folder and index folder, ``default`` one of them).
- Latency, in one process: the lone bot's ``ask`` against ``Library.open(name, reader).ask`` (the access
  check included) in one of the ten, interleaved question by question so machine load hits both alike.
  Questions are embedded for real. p50 and p95 of the full extractive answer.
- Memory, each in a child process of its own (resident set size once the questions are answered, and its
  peak): the lone index; the library with ten collections registered and one used; with three; with all.
  The library's ``loaded`` list is printed too.

    python benchmarks/bench_collections.py [--chunks 10000] [--collections 10] [--rounds 3]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
QUESTIONS = [json.loads(line)["question"] for line in (ROOT / "evals" / "qa.jsonl").read_text().splitlines() if line]
WORDS = (
    "lantern relay harbor copper quartz signal archive ledger meadow river engine budget policy leave "
    "committee garden beacon ferry market winter summer port valve circuit station tower bridge canal"
).split()


def write_corpus(folder: Path, chunks: int) -> None:
    """About ``chunks`` chunks of prose: documents of 20 chunks' worth of sentences from a small vocabulary."""
    rng = random.Random(7)
    folder.mkdir(parents=True)
    per_document = 20
    for n in range(max(1, chunks // per_document)):
        sentences = []
        while sum(len(s) for s in sentences) < per_document * 600:  # 800-char chunks overlapping by 200
            words = [rng.choice(WORDS) for _ in range(rng.randint(8, 16))]
            sentences.append(" ".join(words).capitalize() + f" {rng.randint(1, 9999)}.")
        (folder / f"doc-{n:05d}.txt").write_text(" ".join(sentences) + "\n", encoding="utf-8")


def synthetic_embedder(dimension: int, name: str):  # type: ignore[no-untyped-def]
    from rag.embeddings import Embedder

    def encode(texts: list[str]) -> np.ndarray:
        out = np.empty((len(texts), dimension), dtype=np.float32)
        for i, text in enumerate(texts):
            seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
            v = np.random.default_rng(seed).standard_normal(dimension).astype(np.float32)
            out[i] = v / np.linalg.norm(v)
        return out

    return Embedder(name, dimension, "synthetic", encode)


def build(work: Path, chunks: int, collections: int) -> int:
    """The lone index and ``collections`` copies of it as collections (``default`` and c1..cN-1)."""
    import rag
    from rag.bot.registry import Registry
    from rag.embeddings import get_embedder
    from rag.indexing.faiss import sync_index

    write_corpus(work / "lone" / "docs", chunks)
    lone = rag.Settings(docs_dir=work / "lone" / "docs", index_dir=work / "lone" / "index")
    model = get_embedder(lone.embedding_model, cache_dir=lone.cache_dir)
    store, _ = sync_index(lone, synthetic_embedder(model.dimension, model.name), progress=False, rebuild=True)
    settings = library_settings(work)
    shutil.copytree(lone.docs_dir, settings.docs_dir)
    shutil.copytree(lone.index_dir, settings.index_dir)
    registry = Registry.of(settings)
    for n in range(1, collections):
        docs = work / "teams" / f"c{n}"
        shutil.copytree(lone.docs_dir, docs)
        shutil.copytree(lone.index_dir, settings.index_dir / "collections" / f"c{n}")
        registry.add(f"c{n}", docs)
        registry.grant(f"c{n}", group="bench")
    return len(store)


def library_settings(work: Path):  # type: ignore[no-untyped-def]
    import rag

    return rag.Settings(
        docs_dir=work / "teams" / "default",
        index_dir=work / "teams" / "index",
        collections_file=work / "teams" / "collections.json",
        watch_docs=False,
    )


def latency(work: Path, rounds: int, collection: str) -> dict[str, float]:
    import rag
    from rag.bot.library import Library
    from rag.bot.registry import Reader

    lone = rag.load(work / "lone" / "docs", work / "lone" / "index", progress=False)
    library = Library(library_settings(work))
    reader = Reader("bench", frozenset({"bench"}))
    library.open(collection, reader).ask(QUESTIONS[0])  # load it before timing (the lone bot is loaded too)
    lone.ask(QUESTIONS[0])
    times: dict[str, list[float]] = {"lone": [], "collection": []}
    for _ in range(rounds):
        for question in QUESTIONS:
            for kind in ("lone", "collection") if random.random() < 0.5 else ("collection", "lone"):
                started = time.perf_counter()
                bot = lone if kind == "lone" else library.open(collection, reader)
                bot.ask(question)
                times[kind].append((time.perf_counter() - started) * 1000)
    result = {}
    for kind, samples in times.items():
        ordered = sorted(samples)
        result[f"{kind}_p50_ms"] = statistics.median(samples)
        result[f"{kind}_p95_ms"] = ordered[int(0.95 * (len(ordered) - 1))]
    result["ratio_p50"] = result["collection_p50_ms"] / result["lone_p50_ms"]
    result["ratio_p95"] = result["collection_p95_ms"] / result["lone_p95_ms"]
    result["questions"] = len(times["lone"])
    result["loaded"] = library.loaded  # type: ignore[assignment]
    return result


def memory(work: Path, used: int) -> dict[str, object]:
    """Peak RSS after asking in ``used`` collections (0: the lone index instead)."""
    import rag
    from rag.bot.library import Library
    from rag.bot.registry import Reader

    held: object  # what is measured stays referenced until the measurement
    if used == 0:
        held = rag.load(work / "lone" / "docs", work / "lone" / "index", progress=False)
        held.ask(QUESTIONS[0])  # type: ignore[attr-defined]
        loaded: list[str] = []
    else:
        library = held = Library(library_settings(work))
        reader = Reader("bench", frozenset({"bench"}))
        for name in ["default", *[f"c{n}" for n in range(1, used)]]:
            library.open(name, reader).ask(QUESTIONS[0])
        loaded = library.loaded
    status = Path("/proc/self/status").read_text()
    rss_kb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    del held
    return {"rss_mb": rss_kb / 1024, "peak_rss_mb": peak_mb, "loaded": loaded}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--collections", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--work", type=Path, help="reuse this folder (built when empty)")
    parser.add_argument("--child-memory", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_memory is not None:
        print(json.dumps(memory(args.work, args.child_memory)))
        return
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-collections-"))
    if not (work / "lone").exists():
        started = time.perf_counter()
        chunks = build(work, args.chunks, args.collections)
        took = time.perf_counter() - started
        print(f"built one {chunks}-chunk index and {args.collections} collections in {took:.0f} s")
    result = latency(work, args.rounds, collection=f"c{args.collections // 2}")
    print(json.dumps(result, indent=2))
    for used in (0, 1, 3, args.collections):
        child = subprocess.run(
            [sys.executable, __file__, "--work", str(work), "--child-memory", str(used)],
            capture_output=True,
            text=True,
            check=True,
        )
        figures = json.loads(child.stdout.strip().splitlines()[-1])
        label = "lone index" if used == 0 else f"{args.collections} registered, {used} used"
        print(
            f"memory, {label}: RSS {figures['rss_mb']:.0f} MB (peak {figures['peak_rss_mb']:.0f} MB), "
            f"loaded {figures['loaded']}"
        )


if __name__ == "__main__":
    main()
