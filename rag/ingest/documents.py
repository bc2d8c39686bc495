"""Reading source documents: which files count, how they are read, and what is skipped (and why).

A ``Document`` is the text extracted from one file (by its format's reader in ``rag.ingest.readers``) plus the
SHA-256 of the file's bytes, so chunk offsets always point into that text and the index can tell when a
file changed. For plain text the extracted text is the file's own decoding; for PDF, Word and HTML it is
the reader's output, stored with the index. Page and section spans say where each stretch of text came from.

Every file of a docs folder that is not indexed gets a reason (``SkippedFile``): an unsupported type, an
encrypted or truncated PDF, no text layer, too large, not UTF-8, over a limit of the work a file may cost
(``ReadOptions``), a link that may lead outside the folder. Nothing is skipped silently.

PDF, Word and HTML files are parsed in worker processes with a time and a memory limit
(``rag.ingest.readers.isolation``); plain text is decoded here.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISREG

from rag.errors import DocumentError
from rag.ingest.readers import isolation, reader_for, supported_suffixes
from rag.ingest.readers.base import PageSpan, ReadOptions, SectionSpan, UnreadableFile

__all__ = [
    "MAX_DOCUMENT_BYTES",
    "SUPPORTED_SUFFIXES",
    "Document",
    "DocumentFile",
    "SkippedFile",
    "check_docs_folder",
    "check_supported",
    "list_document_files",
    "load_document",
    "load_documents",
    "read_documents",
]

logger = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = supported_suffixes()
# PDFs and Word files carry images and fonts besides their text: they may be larger than a text file.
MAX_DOCUMENT_BYTES = 10 * 1024 * 1024
MAX_BINARY_DOCUMENT_BYTES = 100 * 1024 * 1024


class SkippedFile(DocumentError):
    """A file that is not indexed: ``source`` (its name) and ``reason`` (why, without the name)."""

    def __init__(self, source: str, reason: str, path: Path | str | None = None) -> None:
        super().__init__(f"{source}: {reason}", path)
        self.source = source
        self.reason = reason


@dataclass(frozen=True)
class Document:
    """One source document.

    Attributes:
        source: File name relative to the docs folder (``"000_9e8dd42f31235db3.txt"``); the citation key.
        text: The extracted text: for plain text exactly the file's decoding (no normalisation, so offsets
            stay true); for other formats its reader's output.
        sha256: Hex digest of the file's bytes.
        kind: The format (``"text"``, ``"pdf"``, ``"docx"``, ``"html"``).
        pages: Page spans over ``text`` (PDF only).
        sections: Section spans over ``text`` (from headings or bookmarks).
        location: The path it was read from ("" when made in memory): what is copied when it is added.
    """

    source: str
    text: str
    sha256: str
    kind: str = "text"
    pages: tuple[PageSpan, ...] = ()
    sections: tuple[SectionSpan, ...] = ()
    location: str = ""

    @classmethod
    def from_text(cls, source: str, text: str) -> Document:
        """Make a document from a string, as if it had been read from a UTF-8 file named ``source``."""
        parts = Path(source).parts
        if not source.strip() or Path(source).is_absolute() or ".." in parts:
            raise DocumentError(f"invalid document name {source!r}: use a relative file name", source)
        return cls(source=source, text=text, sha256=hashlib.sha256(text.encode("utf-8")).hexdigest())


def load_document(
    path: Path,
    source: str | None = None,
    max_bytes: int = MAX_DOCUMENT_BYTES,
    *,
    ocr: str = "auto",
    options: ReadOptions | None = None,
) -> Document:
    """Read one document with the reader for its type (PDF, Word and HTML in a worker process, within limits).

    Args:
        path: File to read.
        source: Name to cite it by; the file name when None.
        max_bytes: Text files larger than this are refused (PDF and Word files may be 10 times larger).
        ocr: ``"auto"`` reads scanned PDFs with tesseract when it is installed; ``"off"`` never does.
        options: The reading options and limits (``Settings.read_options()``); when given, ``ocr`` is
            theirs. When None, the defaults with ``ocr``.

    Raises:
        SkippedFile: The file is of an unsupported type, cannot be read, is too large, encrypted, corrupt,
            has no text, is binary, is not UTF-8, is empty, or is over a limit; ``reason`` says which.
        DocumentError: The file cannot be opened at all.
        ExtractionStopped: The process is shutting down (``rag.ingest.readers.isolation.shutdown``).
    """
    options = options if options is not None else ReadOptions(ocr=ocr)
    name = source or path.name
    reader = reader_for(path)
    if reader is None:
        raise SkippedFile(name, f"unsupported file type {path.suffix.lower()!r}", path)
    limit = max_bytes if reader.kind in {"text", "html"} else max(max_bytes, MAX_BINARY_DOCUMENT_BYTES)
    try:
        size = path.stat().st_size
        if size > limit:
            raise SkippedFile(
                name,
                f"too large: {size / 1e6:.1f} MB; {reader.kind} files over {limit / 1e6:.0f} MB are not indexed",
                path,
            )
        data = path.read_bytes()
    except OSError as exc:
        raise DocumentError(f"cannot read {path}: {exc.strerror or exc}", path) from exc
    try:
        if reader.kind in isolation.ISOLATED_KINDS:
            extracted = isolation.extract(reader.kind, data, options)
        else:
            extracted = reader.read(data, options)
    except UnreadableFile as exc:
        raise SkippedFile(name, str(exc), path) from None
    except isolation.ExtractionStopped:
        raise  # shutting down: the file is not at fault, and nothing is recorded about it
    except Exception as exc:  # a parser's own failure on a malformed file must not stop the whole folder
        logger.debug("the %s reader failed on %s", reader.kind, path, exc_info=True)
        raise SkippedFile(
            name, f"corrupt or unreadable {reader.kind} file ({type(exc).__name__}: {exc})", path
        ) from None
    if not extracted.text.strip():
        raise SkippedFile(name, "empty", path)
    return Document(
        source=name,
        text=extracted.text,
        sha256=hashlib.sha256(data).hexdigest(),
        kind=extracted.kind,
        pages=extracted.pages,
        sections=extracted.sections,
        location=str(path),
    )


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
    """Raise ``SkippedFile`` unless ``path`` is of a type that can be indexed (``SUPPORTED_SUFFIXES``)."""
    if reader_for(path) is None:
        raise SkippedFile(
            path.name,
            f"unsupported file type {path.suffix.lower()!r}; supported: {', '.join(SUPPORTED_SUFFIXES)} "
            "and text files without an extension",
            path,
        )


def list_document_files(
    folder: Path, skipped: dict[str, str] | None = None, known_skipped: Mapping[str, str] | None = None
) -> list[DocumentFile]:
    """Every file under ``folder`` (hidden files and folders aside), sorted by name, with its stat.

    Files of unsupported types are listed too: reading them says why they are skipped.

    A docs folder must not be a way to read arbitrary files, so links that may lead outside it are left out:
    symbolic links to files outside ``folder`` (linked folders are not followed), and hard links: regular
    files with more than one link (``st_nlink > 1``). The other name of a hard link cannot be found without
    searching the whole file system, and it may be any file the server can read, so every hard-linked file is
    refused, wherever its other names are; copy the file into the folder instead. Each one left out is
    recorded in ``skipped`` with its reason, and logged as a warning unless ``known_skipped`` already has that
    reason for it (it was reported before). Only links are resolved, so listing a folder of many thousand
    files costs one ``stat`` per file.
    """
    root = folder.resolve()
    known = known_skipped or {}
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
                source = prefix + entry.name
                if entry.is_symlink() and not Path(entry.path).resolve().is_relative_to(root):
                    _leave_out(source, f"a symbolic link to a file outside the docs folder {folder}", skipped, known)
                    continue
                try:
                    stat = entry.stat()
                except OSError:
                    continue  # a dangling link, or a file removed while listing
                if not S_ISREG(stat.st_mode):
                    continue
                if stat.st_nlink > 1:
                    why = (
                        f"a hard link ({stat.st_nlink} names for one file): its other names may be outside the docs "
                        "folder; copy the file in instead"
                    )
                    _leave_out(source, why, skipped, known)
                    continue
                found.append(DocumentFile(source, entry.path, stat.st_size, stat.st_mtime_ns))
    return sorted(found, key=lambda file: file.source)


def _leave_out(source: str, reason: str, skipped: dict[str, str] | None, known: Mapping[str, str]) -> None:
    level = logging.DEBUG if known.get(source) == reason else logging.WARNING
    logger.log(level, "skipped %s: %s", source, reason)
    if skipped is not None:
        skipped[source] = reason


def load_documents(folder: Path | str, options: ReadOptions | None = None) -> list[Document]:
    """Read every document under ``folder``, skipping unreadable ones with a warning that says why.

    Raises:
        DocumentError: The folder does not exist, or holds no readable document.
    """
    folder = check_docs_folder(folder)
    return read_documents(folder, list_document_files(folder), options=options)


def read_documents(
    folder: Path,
    files: Iterable[DocumentFile],
    *,
    also_known: int = 0,
    skipped: dict[str, str] | None = None,
    known_skipped: dict[str, str] | None = None,
    ocr: str = "auto",
    options: ReadOptions | None = None,
) -> list[Document]:
    """Read ``files`` (found in ``folder``), skipping unreadable ones with a warning that says why.

    Args:
        folder: The docs folder, for messages.
        files: The files to read.
        also_known: Documents of the folder known without being read (their hash is on record).
        skipped: Filled with each skipped file's name and reason.
        known_skipped: Files already reported as skipped, with their reasons: skipped again for the same
            reason, they are logged at debug level only, so a reason is reported once, when found.
        ocr: Passed to the PDF reader (``"auto"`` or ``"off"``) when ``options`` is None.
        options: The reading options and limits (``Settings.read_options()``).

    Raises:
        DocumentError: No file could be read, and no document is known otherwise.
    """
    documents: list[Document] = []
    skipped = {} if skipped is None else skipped
    known_skipped = known_skipped or {}
    for file in files:
        try:
            documents.append(load_document(file.path, file.source, ocr=ocr, options=options))
        except DocumentError as exc:
            reason = exc.reason if isinstance(exc, SkippedFile) else str(exc)
            level = logging.DEBUG if known_skipped.get(file.source) == reason else logging.WARNING
            logger.log(level, "skipped %s: %s", file.source, reason)
            skipped[file.source] = reason
    if not documents and not also_known:
        detail = f" ({len(skipped)} unreadable file(s) skipped: {', '.join(skipped)})" if skipped else ""
        raise DocumentError(f"no readable documents in {folder}{detail}", folder)
    logger.debug("read %d document(s) from %s", len(documents), folder)
    return documents
