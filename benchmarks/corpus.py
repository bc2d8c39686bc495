"""A benchmark corpus of real English prose found on this machine: docstrings of installed Python code.

Every module of the virtualenv's site-packages and of the standard library with docstrings longer than
200 characters becomes one ``.txt`` document (its docstrings, blank-line separated). ``build_corpus(n)``
writes, under ``benchmarks/.corpus/<n>/``, the first documents (in a fixed order) whose chunks add up to at
least ``n``. Nothing is downloaded. The docstring extraction is cached in ``benchmarks/.corpus/pool.jsonl``.
"""

from __future__ import annotations

import ast
import json
import logging
import shutil
import sysconfig
from pathlib import Path

from rag.ingest.chunking import chunk_document
from rag.ingest.documents import Document

HERE = Path(__file__).resolve().parent / ".corpus"
logger = logging.getLogger(__name__)


def _docstrings(path: Path) -> str:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError, ValueError, OSError):
        return ""
    texts = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node)
            if doc and len(doc) > 200:
                texts.append(doc.strip())
    return "\n\n".join(texts)


def _pool() -> list[tuple[str, str]]:
    """(name, text) of every module with enough docstring prose, extracted once and cached."""
    cache = HERE / "pool.jsonl"
    if cache.is_file():
        return [tuple(json.loads(line)) for line in cache.read_text(encoding="utf-8").splitlines()]  # type: ignore[misc]
    roots = [Path(sysconfig.get_paths()["purelib"]), Path(sysconfig.get_paths()["stdlib"])]
    pool = []
    for root in roots:
        logger.info("reading docstrings under %s", root)
        for path in sorted(root.rglob("*.py")):
            text = _docstrings(path)
            if len(text) > 1000:
                name = "_".join(path.relative_to(root).with_suffix("").parts)[-120:] + ".txt"
                pool.append((name, text))
    HERE.mkdir(parents=True, exist_ok=True)
    cache.write_text("\n".join(json.dumps(item) for item in pool) + "\n", encoding="utf-8")
    return pool


def build_corpus(chunks: int, chunk_size: int = 800, chunk_overlap: int = 200) -> Path:
    """Write a corpus of at least ``chunks`` chunks (for these chunk settings); return its folder."""
    folder = HERE / str(chunks)
    marker = folder / ".complete"
    if marker.is_file():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    total = 0
    round_ = 0
    pool = _pool()
    while total < chunks:  # if the machine has less prose than asked for, later rounds reuse it, renamed
        for name, text in pool:
            doc_name = name if round_ == 0 else f"r{round_}_{name}"
            (folder / doc_name).write_text(text, encoding="utf-8")
            total += len(chunk_document(Document.from_text(doc_name, text), chunk_size, chunk_overlap)[1])
            if total >= chunks:
                break
        round_ += 1
    marker.write_text(str(total))
    logger.info("corpus of %d chunks in %s", total, folder)
    return folder
