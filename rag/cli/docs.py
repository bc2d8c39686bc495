"""``rag docs list|show|remove|reindex``: the documents of a corpus, from the command line.

``list`` and ``show`` read only the index's manifest and the docs folder (no model is loaded); ``remove``
and ``reindex`` load the bot, change the folder and bring the index up to date in the same step.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from rag.config import Settings
from rag.errors import DocumentError
from rag.indexing.catalog import DocumentInfo, check_document_name, format_size, list_documents
from rag.ingest.documents import load_document
from rag.stores.manifest import MANIFEST, Manifest

__all__ = ["run_docs"]


def run_docs(args: argparse.Namespace, settings: Settings, progress: bool) -> int:
    """Run one ``rag docs`` action; returns the exit code."""
    if args.docs_command in {"remove", "reindex"}:
        import rag

        bot = rag.load(settings=settings, progress=progress)
        if args.docs_command == "remove":
            report = bot.remove_documents(args.names, progress=progress)
        else:
            report = bot.reindex_documents(args.names, progress=progress)
        print(report.summary())
        return 0
    documents = list_documents(settings.docs_dir, _manifest(settings.index_dir))
    if args.docs_command == "list":
        if args.json:
            print(json.dumps([d.to_dict() for d in documents], ensure_ascii=False))
        else:
            print(format_table(documents))
        return 0
    match = [d for d in documents if d.name == args.name]
    if not match:
        raise DocumentError(f"no document named {args.name!r} in {settings.docs_dir}; see 'rag docs list'", args.name)
    info = match[0]
    path = check_document_name(settings.docs_dir, info.name)
    text = load_document(path, info.name, options=settings.read_options()).text if path.is_file() else ""
    if args.json:
        print(json.dumps({**info.to_dict(), "text": text}, ensure_ascii=False))
        return 0
    for key, value in info.to_dict().items():
        if value not in (None, ""):
            print(f"{key + ':':12}{value}")
    print()
    print(text)
    return 0


def _manifest(index_dir: Path) -> Manifest:
    """The index's manifest, or an empty one when there is no index yet (every document is then pending)."""
    try:
        return Manifest.from_json((index_dir / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Manifest("", 0, 0, 0, {})


def format_table(documents: list[DocumentInfo]) -> str:
    """Documents as an aligned text table, one a line, with a count at the end."""
    header = ("NAME", "TYPE", "SIZE", "PAGES", "CHUNKS", "INDEXED", "STATUS")
    rows = [
        (
            d.name,
            d.type,
            format_size(d.size),
            str(d.pages or "-"),
            str(d.chunks),
            time.strftime("%Y-%m-%d %H:%M", time.localtime(d.indexed_at)) if d.indexed_at else "-",
            d.status + (f" ({d.reason})" if d.reason else ""),
        )
        for d in documents
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    lines = [
        "  ".join([*(cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=True)), row[-1]])
        for row in [header, *rows]
    ]
    indexed = sum(d.status == "indexed" for d in documents)
    lines.append(f"{len(documents)} document(s), {indexed} indexed, {sum(d.chunks for d in documents)} chunks")
    return "\n".join(lines)
