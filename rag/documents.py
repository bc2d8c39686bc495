"""Reading source documents: which files count, how they are decoded, and what is skipped (and why).

A ``Document`` is the exact text of one file plus its SHA-256, so chunk offsets always point into the
original bytes' decoding and the index can tell when a file changed.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from rag.errors import DocumentError

__all__ = ["MAX_DOCUMENT_BYTES", "SUPPORTED_SUFFIXES", "Document", "load_document", "load_documents"]

logger = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = (".txt", ".md")
MAX_DOCUMENT_BYTES = 10 * 1024 * 1024


@dataclass(frozen=True)
class Document:
    """One source document.

    Attributes:
        source: File name relative to the docs folder (``"000_9e8dd42f31235db3.txt"``); the citation key.
        text: Decoded text, exactly as in the file (no normalisation, so offsets stay true).
        sha256: Hex digest of the file's bytes.
    """

    source: str
    text: str
    sha256: str

    @classmethod
    def from_text(cls, source: str, text: str) -> Document:
        """Make a document from a string, as if it had been read from a UTF-8 file named ``source``."""
        parts = Path(source).parts
        if not source.strip() or Path(source).is_absolute() or ".." in parts:
            raise DocumentError(f"invalid document name {source!r}: use a relative file name", source)
        return cls(source=source, text=text, sha256=hashlib.sha256(text.encode("utf-8")).hexdigest())


def load_document(path: Path, source: str | None = None, max_bytes: int = MAX_DOCUMENT_BYTES) -> Document:
    """Read one UTF-8 text file.

    Args:
        path: File to read.
        source: Name to cite it by; the file name when None.
        max_bytes: Files larger than this are refused.

    Raises:
        DocumentError: The file cannot be read, is too large, is binary, is not UTF-8, or is empty.
    """
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise DocumentError(
                f"{path.name} is {size / 1e6:.1f} MB; documents over {max_bytes / 1e6:.0f} MB are not indexed",
                path,
            )
        data = path.read_bytes()
    except OSError as exc:
        raise DocumentError(f"cannot read {path}: {exc.strerror or exc}", path) from exc
    if b"\x00" in data[:8192]:
        raise DocumentError(f"{path.name} looks binary (it contains NUL bytes), not text", path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DocumentError(f"{path.name} is not UTF-8 text (bad byte at offset {exc.start})", path) from None
    # A BOM is an encoding marker, not content; dropping it keeps offsets relative to the visible text.
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise DocumentError(f"{path.name} is empty", path)
    return Document(source=source or path.name, text=text, sha256=hashlib.sha256(data).hexdigest())


def iter_document_paths(folder: Path) -> Iterable[tuple[str, Path]]:
    """Yield ``(source name, path)`` for each supported file under ``folder``, sorted by name.

    Symbolic links that resolve outside ``folder`` are skipped with a warning: a docs folder should not be a
    way to read arbitrary files.
    """
    root = folder.resolve()
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if path.suffix.lower() not in SUPPORTED_SUFFIXES or any(p.startswith(".") for p in relative.parts):
            continue
        resolved = path.resolve()
        if not resolved.is_relative_to(root):
            logger.warning("skipping %s: it links outside the docs folder %s", path, folder)
            continue
        if resolved.is_file():
            yield relative.as_posix(), path


def load_documents(folder: Path | str) -> list[Document]:
    """Read every ``.txt`` and ``.md`` file under ``folder``, skipping unreadable ones with a warning.

    Raises:
        DocumentError: The folder does not exist, or holds no readable document.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DocumentError(
            f"docs folder {folder} does not exist (working directory: {Path.cwd()}); pass docs_dir= or set RAG_DOCS",
            folder,
        )
    documents: list[Document] = []
    skipped: list[str] = []
    for source, path in iter_document_paths(folder):
        try:
            documents.append(load_document(path, source))
        except DocumentError as exc:
            logger.warning("skipping %s", exc)
            skipped.append(source)
    if not documents:
        detail = f" ({len(skipped)} unreadable file(s) skipped: {', '.join(skipped)})" if skipped else ""
        raise DocumentError(f"no readable {' or '.join(SUPPORTED_SUFFIXES)} documents in {folder}{detail}", folder)
    logger.debug("read %d document(s) from %s", len(documents), folder)
    return documents
