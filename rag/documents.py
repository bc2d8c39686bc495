"""Reading source documents: which files count, how they are decoded, and what is skipped (and why).

A ``Document`` is the exact text of one file plus its SHA-256, so chunk offsets always point into the
original bytes' decoding and the index can tell when a file changed.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISREG

from rag.errors import DocumentError

__all__ = [
    "MAX_DOCUMENT_BYTES",
    "SUPPORTED_SUFFIXES",
    "Document",
    "DocumentFile",
    "check_docs_folder",
    "check_supported",
    "list_document_files",
    "load_document",
    "load_documents",
    "read_documents",
]

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


@dataclass(frozen=True)
class DocumentFile:
    """A document file found in a docs folder, not read yet: its name, path, size and modification time."""

    source: str
    location: str  # the path, as a string: a Path per file cost half the time of listing 8,000 files
    size: int
    mtime_ns: int

    @property
    def path(self) -> Path:
        """The file's path."""
        return Path(self.location)


def check_docs_folder(folder: Path | str) -> Path:
    """``folder`` as a ``Path``, once it is known to be a folder.

    Raises:
        DocumentError: It does not exist.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DocumentError(
            f"docs folder {folder} does not exist (working directory: {Path.cwd()}); pass docs_dir= or set RAG_DOCS",
            folder,
        )
    return folder


def check_supported(path: Path) -> None:
    """Raise ``DocumentError`` unless ``path`` is of a type that can be indexed (``SUPPORTED_SUFFIXES``)."""
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        raise DocumentError(f"{path.name}: only {' and '.join(SUPPORTED_SUFFIXES)} files can be added", path)


def list_document_files(folder: Path) -> list[DocumentFile]:
    """Every supported file under ``folder`` (hidden files and folders aside), sorted by name, with its stat.

    Symbolic links to files outside ``folder`` are skipped with a warning: a docs folder should not be a way
    to read arbitrary files. Linked folders are not followed. Only links are resolved, so listing a folder of
    many thousand files costs one ``stat`` per file.
    """
    root = folder.resolve()
    found: list[DocumentFile] = []
    pending: list[tuple[str | Path, str]] = [(folder, "")]
    while pending:
        directory, prefix = pending.pop()
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    pending.append((entry.path, f"{prefix}{entry.name}/"))
                    continue
                if not entry.name.lower().endswith(SUPPORTED_SUFFIXES):
                    continue
                if entry.is_symlink() and not Path(entry.path).resolve().is_relative_to(root):
                    logger.warning("skipping %s: it links outside the docs folder %s", entry.path, folder)
                    continue
                try:
                    stat = entry.stat()
                except OSError:
                    continue  # a dangling link, or a file removed while listing
                if S_ISREG(stat.st_mode):
                    found.append(DocumentFile(prefix + entry.name, entry.path, stat.st_size, stat.st_mtime_ns))
    return sorted(found, key=lambda file: file.source)


def load_documents(folder: Path | str) -> list[Document]:
    """Read every ``.txt`` and ``.md`` file under ``folder``, skipping unreadable ones with a warning.

    Raises:
        DocumentError: The folder does not exist, or holds no readable document.
    """
    folder = check_docs_folder(folder)
    return read_documents(folder, list_document_files(folder))


def read_documents(folder: Path, files: Iterable[DocumentFile], *, also_known: int = 0) -> list[Document]:
    """Read ``files`` (found in ``folder``), skipping unreadable ones with a warning.

    Args:
        folder: The docs folder, for messages.
        files: The files to read.
        also_known: Documents of the folder known without being read (their hash is on record).

    Raises:
        DocumentError: No file could be read, and no document is known otherwise.
    """
    documents: list[Document] = []
    skipped: list[str] = []
    for file in files:
        try:
            documents.append(load_document(file.path, file.source))
        except DocumentError as exc:
            logger.warning("skipping %s", exc)
            skipped.append(file.source)
    if not documents and not also_known:
        detail = f" ({len(skipped)} unreadable file(s) skipped: {', '.join(skipped)})" if skipped else ""
        raise DocumentError(f"no readable {' or '.join(SUPPORTED_SUFFIXES)} documents in {folder}{detail}", folder)
    logger.debug("read %d document(s) from %s", len(documents), folder)
    return documents
