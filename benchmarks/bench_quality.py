"""Answer quality on real documentation: this project beside the naive LangChain pipeline, in one run.

Both pipelines index the same folder of real manuals (``evals/real/docs``, fetched by ``evals/real/fetch.py``)
from scratch and answer the same questions (``evals/real/calibration.jsonl`` and ``heldout.jsonl`` by default;
only aggregate figures are printed):

- naive: one LangChain ``Document`` per PDF page (``PyPDFium2Loader``, so page metadata is exact) and per web
  page (the same HTML text this project reads, so the comparison is about what comes after the reader),
  ``RecursiveCharacterTextSplitter(1000, 200)``, the same packaged all-MiniLM-L6-v2 through
  ``HuggingFaceEmbeddings``, ``FAISS.from_documents``, ``similarity_search(k=5)``. Its "answer" is its top chunk.
- rag: ``rag.load`` (readers, sentence-aligned chunks, hybrid retrieval) and the extractive answerer.

Reported for each: hit@1 and hit@5 by page (PDF questions that list ``pages``: a retrieved chunk on one of
them), "the answer holds the expected fact" (every group of ``answers_all`` in the answer, as ``rag eval``
checks it; answerable questions), and the time to index from scratch. Run with
``python benchmarks/bench_quality.py [--corpus gnuplot --corpus asymptote]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

ROOT = Path(__file__).resolve().parent.parent
REAL = ROOT / "evals" / "real"
K = 5


def load_items(paths: list[Path], corpora: set[str] | None) -> list[dict[str, Any]]:
    """The questions of ``paths`` (of ``corpora`` only, when given)."""
    items = [json.loads(line) for path in paths for line in path.read_text(encoding="utf-8").splitlines() if line]
    return [item for item in items if corpora is None or item.get("corpus") in corpora]


def naive_documents(docs: Path) -> list[Any]:
    """One LangChain document per PDF page and per web page, with ``source`` and (PDF) 1-based ``page``."""
    from langchain_community.document_loaders import PyPDFium2Loader
    from langchain_core.documents import Document

    from rag.ingest.documents import list_document_files, load_document

    out: list[Any] = []
    for file in list_document_files(docs):
        if file.source.endswith(".pdf"):
            for page in PyPDFium2Loader(file.location).load():
                page.metadata = {"source": file.source, "page": int(page.metadata.get("page", 0)) + 1}
                out.append(page)
        else:
            out.append(Document(load_document(file.path, file.source).text, metadata={"source": file.source}))
    return out


def run_naive(docs: Path, items: list[dict[str, Any]]) -> dict[str, Any]:
    """Index ``docs`` the naive way and retrieve for every item."""
    from langchain_community.vectorstores import FAISS
    from langchain_huggingface import HuggingFaceEmbeddings
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from rag.embeddings import resolve_model_path

    embeddings = HuggingFaceEmbeddings(model_name=resolve_model_path("all-MiniLM-L6-v2"))
    started = time.perf_counter()
    chunks = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200).split_documents(naive_documents(docs))
    store = FAISS.from_documents(chunks, embeddings)
    index_s = time.perf_counter() - started
    results = []
    for item in items:
        found = store.similarity_search(item["question"], k=K)
        results.append(
            {
                "pages": [
                    ({d.metadata.get("page")} if d.metadata.get("source") in item["sources"] else set()) for d in found
                ],
                "answer": found[0].page_content if found else "",
            }
        )
    return {"index_s": index_s, "results": results, "chunks": len(chunks)}


def run_rag(docs: Path, index: Path, items: list[dict[str, Any]]) -> dict[str, Any]:
    """Index ``docs`` with this project from scratch and ask every item."""
    import rag

    started = time.perf_counter()
    bot = rag.load(docs, index, progress=False, rebuild=True)
    index_s = time.perf_counter() - started
    results = []
    for item in items:
        answer = bot.ask(item["question"], k=K)
        pages = []
        for passage in answer.passages:
            covered: set[int | None] = set()
            if passage.source in item["sources"]:
                covered = {passage.chunk.page} | {place.page for place in passage.chunk.places}
            pages.append(covered)
        results.append({"pages": pages, "answer": "" if answer.refused else answer.text})
    return {"index_s": index_s, "results": results, "chunks": len(bot.store)}


def summarise(run: dict[str, Any], items: list[dict[str, Any]]) -> dict[str, float]:
    """hit@1 and hit@5 by page, the share of answers holding the expected fact, index time."""
    from rag.eval.metrics import answer_is_correct

    paged = [(item, result) for item, result in zip(items, run["results"], strict=True) if item.get("pages")]

    def hit(k: int) -> float:
        hits = sum(1 for item, r in paged if any(set(item["pages"]) & pages for pages in r["pages"][:k]))
        return hits / len(paged) if paged else float("nan")

    answerable = [(item, r) for item, r in zip(items, run["results"], strict=True) if item["answerable"]]
    holds = sum(1 for item, r in answerable if r["answer"] and answer_is_correct(r["answer"], item["answers_all"]))
    return {
        "page_hit@1": hit(1),
        "page_hit@5": hit(5),
        "answer_holds_fact": holds / len(answerable) if answerable else float("nan"),
        "index_s": run["index_s"],
        "chunks": run["chunks"],
    }


def main() -> None:
    """Run both pipelines on the real-documentation set and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=Path, default=REAL / "docs")
    parser.add_argument("--qa", type=Path, action="append", help="Q&A files (default: both halves of evals/real)")
    parser.add_argument("--corpus", action="append", help="only the questions (and documents) of this corpus")
    args = parser.parse_args()
    items = load_items(args.qa or [REAL / "calibration.jsonl", REAL / "heldout.jsonl"], set(args.corpus or []) or None)
    work = Path(tempfile.mkdtemp(prefix="bench-quality-"))
    try:
        docs = args.docs
        if args.corpus:
            docs = work / "docs"
            for corpus in args.corpus:
                shutil.copytree(args.docs / corpus, docs / corpus)
        naive = summarise(run_naive(docs, items), items)
        ours = summarise(run_rag(docs, work / "index", items), items)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    paged = sum(1 for item in items if item.get("pages"))
    answerable = sum(1 for item in items if item["answerable"])
    print(
        f"Real documentation: {len(items)} questions ({answerable} answerable, {paged} with pages), "
        f"{os.cpu_count()} CPU cores\n"
    )
    print("| pipeline | page hit@1 | page hit@5 | answer holds the fact | chunks | index time |")
    print("|---|---|---|---|---|---|")
    for name, row in (("naive LangChain (top chunk)", naive), ("rag (extractive answer)", ours)):
        print(
            f"| {name} | {row['page_hit@1']:.3f} | {row['page_hit@5']:.3f} | {row['answer_holds_fact']:.3f} | "
            f"{row['chunks']:,} | {row['index_s']:.0f} s |"
        )


if __name__ == "__main__":
    main()
