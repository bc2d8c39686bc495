"""The documents of a corpus as people see them: what each one is, how much of it is indexed, and its state.

``list_documents`` joins the docs folder with the index's manifest: every document file, indexed or not, with
its type, size, pages, chunks, when it was indexed and its status:

- ``indexed``: its chunks are searchable;
- ``pending``: new, changed or deleted since the index was last brought up to date, or left to do by an
  interrupted run (the next refresh takes care of it);
- ``skipped``: it will not be indexed, and ``reason`` says why.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from rag.errors import DocumentError
from rag.ingest.documents import list_document_files
from rag.stores.manifest import Manifest

__all__ = ["DocumentInfo", "check_document_name", "format_size", "list_documents"]


@dataclass(frozen=True)
class DocumentInfo:
    """One document of the corpus.

    Attributes:
        name: Its name relative to the docs folder: the citation key.
        type: Its kind: ``"pdf"``, ``"docx"``, ``"html"`` as read, else the suffix (``"txt"``, ``"md"``, ``"text"``
            for none).
        size: Bytes on disk (-1 when the file is gone).
        pages: Pages, for paged formats; None when the format has none or it is not known.
        chunks: Chunks of it in the index (0 when not indexed).
        indexed_at: When it was indexed (Unix time), None when it is not or it is not known.
        status: ``"indexed"``, ``"pending"`` or ``"skipped"``.
        reason: Why it is pending or skipped ("" when indexed).
    """

    name: str
    type: str
    size: int
    pages: int | None
    chunks: int
    indexed_at: float | None
    status: str
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The document as plain JSON types; ``indexed_at`` in ISO 8601 (UTC), as ``rag docs list --json`` prints."""
        return {
            "name": self.name,
            "type": self.type,
            "size": self.size,
            "pages": self.pages,
            "chunks": self.chunks,
            "indexed_at": _iso(self.indexed_at),
            "status": self.status,
            "reason": self.reason,
        }


def _iso(stamp: float | None) -> str | None:
    if not stamp:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp))


def list_documents(docs_dir: Path, manifest: Manifest, kept: Mapping[str, str] | None = None) -> list[DocumentInfo]:
    """Every document of ``docs_dir`` and of the index ``manifest`` describes, sorted by name.

    ``kept`` names the files whose new version could not be read at the last refresh, and why: they are
    listed as indexed (their previous version is searched), with that reason.
    """
    kept = kept or {}
    skipped = dict(manifest.skipped)  # files found but not indexable, with why (rag.indexing.faiss records them)
    # Links left out of the listing are reported by indexing, once; a listing only adds any it has not seen.
    listed = list_document_files(docs_dir, skipped, manifest.skipped) if Path(docs_dir).is_dir() else []
    on_disk = {f.source: f for f in listed}
    pending = set(manifest.pending)
    documents = []
    for name in sorted(set(on_disk) | set(manifest.files) | set(skipped)):
        file, entry = on_disk.get(name), manifest.files.get(name)
        size = file.size if file is not None else -1
        # The reader's kind names binary formats ("pdf", "docx", "html"); plain text says more by its suffix.
        read_as = entry.kind if entry is not None else ""
        suffix = PurePosixPath(name).suffix.lower().lstrip(".") or "text"
        kind = read_as if read_as not in ("", "text") else suffix
        pages = (entry.pages if entry is not None else 0) or None
        if name in skipped:
            documents.append(DocumentInfo(name, kind, size, pages, 0, None, "skipped", skipped[name]))
            continue
        if entry is None:
            documents.append(DocumentInfo(name, kind, size, pages, 0, None, "pending", "not indexed yet"))
            continue
        indexed_at = entry.indexed_at or None
        if file is None:
            status, reason = "pending", "deleted from the docs folder; its chunks go at the next refresh"
        elif name in kept:
            status, reason = "indexed", f"its previous version: the new one could not be indexed ({kept[name]})"
        elif name in pending:
            status, reason = "pending", "an interrupted indexing run had not reached it"
        elif entry.size >= 0 and entry.mtime_ns >= 0 and (entry.size, entry.mtime_ns) != (file.size, file.mtime_ns):
            status, reason = "pending", "changed since it was indexed"
        else:
            status, reason = "indexed", ""
        documents.append(DocumentInfo(name, kind, size, pages, entry.chunks, indexed_at, status, reason))
    return documents


def check_document_name(docs_dir: Path, name: str) -> Path:
    """The path of document ``name`` inside ``docs_dir``.

    Raises:
        DocumentError: ``name`` is absolute or leaves the docs folder.
    """
    parts = PurePosixPath(name).parts
    if not name.strip() or PurePosixPath(name).is_absolute() or ".." in parts:
        raise DocumentError(f"invalid document name {name!r}: use its name as 'rag docs list' shows it", name)
    return Path(docs_dir) / name


def format_size(size: int) -> str:
    """A file size for people: ``"812 B"``, ``"3.1 KB"``, ``"2.4 MB"``; ``"gone"`` for a deleted file (-1)."""
    if size < 0:
        return "gone"
    if size < 1024:
        return f"{size} B"
    return f"{size / 1024:.1f} KB" if size < 1024 * 1024 else f"{size / 1024 / 1024:.1f} MB"
