"""The text extracted from each indexed document, stored beside the index: what citations' offsets point into.

Plain text files are their own extracted text. For PDF, Word and HTML the reader's output is stored under
``<index>/extracted/<sha256>.txt`` (and its page spans in ``<sha256>.pages.json``), named by the SHA-256 of the
source file's bytes, so ``bot.document_text(c.source)[c.start:c.end] == c.text`` holds for every citation.
"""

from __future__ import annotations

import json
from pathlib import Path

from rag.config import Settings
from rag.errors import DocumentError
from rag.indexing.refresh import Corpus
from rag.ingest.documents import load_document
from rag.ingest.readers.base import PageSpan
from rag.stores.manifest import Manifest

__all__ = ["extracted_text_path", "save_extracted_texts", "stored_pages", "stored_text"]


EXTRACTED = "extracted"


def extracted_text_path(index_dir: Path, sha256: str) -> Path:
    """Where the index keeps the text extracted from a file (PDF, Word, HTML) whose bytes hash to ``sha256``."""
    return Path(index_dir) / EXTRACTED / f"{sha256}.txt"


def stored_text(settings: Settings, manifest: Manifest, source: str) -> str:
    """The extracted text of the indexed document ``source``: stored with the index, or the text file itself.

    Raises:
        DocumentError: ``source`` is not indexed, or its text cannot be read.
    """
    entry = manifest.files.get(source)
    if entry is None:
        raise DocumentError(f"{source} is not indexed", source)
    path = extracted_text_path(settings.index_dir, entry.sha256)
    try:
        if entry.kind not in {"", "text"}:
            with open(path, encoding="utf-8", newline="") as file:  # line ends as written: offsets count them
                return file.read()
        return load_document(settings.docs_dir / source, source).text
    except OSError as exc:
        raise DocumentError(f"cannot read the text of {source}: {exc.strerror or exc}", path) from exc


def stored_pages(settings: Settings, manifest: Manifest, source: str) -> tuple[PageSpan, ...]:
    """The page spans over the extracted text of ``source`` (empty for formats without pages)."""
    entry = manifest.files.get(source)
    if entry is None or not entry.pages:
        return ()
    path = extracted_text_path(settings.index_dir, entry.sha256).with_suffix(".pages.json")
    try:
        return tuple(PageSpan(int(s), int(e), int(n), label) for s, e, n, label in json.loads(path.read_text()))
    except (OSError, ValueError, TypeError) as exc:
        raise DocumentError(f"cannot read the pages of {source}: {exc}", path) from exc


def _write_atomically(path: Path, text: str) -> None:
    staged = path.with_name(f".{path.name}.tmp")
    with open(staged, "w", encoding="utf-8", newline="") as file:
        file.write(text)
    staged.replace(path)


def save_extracted_texts(index_dir: Path, corpus: Corpus, manifest: Manifest) -> None:
    """Store the extracted text of every newly read non-text document; drop texts no file refers to any more.

    Offsets of chunks and citations point into this text: ``text[start:end] == citation.text``. Plain text
    files are their own extracted text, so they are not copied. Files are named by the SHA-256 of the
    source file's bytes, so an unchanged file's text is written once.
    """
    folder = Path(index_dir) / EXTRACTED
    for doc in corpus.read.values():
        if doc.kind == "text" or doc.source not in manifest.files:
            continue
        path = extracted_text_path(index_dir, doc.sha256)
        if not path.exists():
            folder.mkdir(parents=True, exist_ok=True)
            if doc.pages:  # written first: a text file present means its pages are too
                pages = [[p.start, p.end, p.number, p.label] for p in doc.pages]
                _write_atomically(path.with_suffix(".pages.json"), json.dumps(pages))
            _write_atomically(path, doc.text)
    if folder.is_dir():
        wanted = {f"{entry.sha256}{suffix}" for entry in manifest.files.values() for suffix in (".txt", ".pages.json")}
        for path in folder.iterdir():
            if path.name not in wanted and not path.name.startswith("."):
                path.unlink(missing_ok=True)
