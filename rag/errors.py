"""Every error the library raises on purpose, under one base class.

    RagError
    ├── ConfigError (ValueError)        a setting or argument is invalid
    │   └── CollectionNotFound          no collection of that name that the caller may read
    ├── QuestionError (ValueError)      a question is empty, too long or not a question
    ├── DocumentError                   a document or docs folder cannot be used (carries .path)
    ├── IndexNotFoundError              no index where one was expected
    ├── CorruptIndexError               an index exists but cannot be read back
    │   ├── IndexVersionError           it was written by a newer rag (never overwritten)
    │   └── IndexOutdatedError          it was written by an older rag (rebuilt)
    ├── IndexLockedError                another process is writing the same index
    └── AnswererUnavailable             an LLM backend cannot answer right now (network, auth, missing package)

Caller mistakes (ConfigError, QuestionError) are also ValueErrors, so code that catches ValueError keeps
working. The pipeline catches AnswererUnavailable and falls back to the extractive answer.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "AnswererUnavailable",
    "CollectionNotFound",
    "ConfigError",
    "CorruptIndexError",
    "DocumentError",
    "IndexLockedError",
    "IndexNotFoundError",
    "IndexOutdatedError",
    "IndexVersionError",
    "QuestionError",
    "RagError",
]


class RagError(Exception):
    """Base class of every error raised by ``rag``."""


class ConfigError(RagError, ValueError):
    """A setting or argument has a value the library cannot use."""


class CollectionNotFound(ConfigError):
    """No collection of that name, or none the caller may read: the two read the same, on purpose."""


class QuestionError(RagError, ValueError):
    """A question that cannot be asked: empty, too long, or with nothing to search for."""


class DocumentError(RagError):
    """A document or a docs folder that cannot be used."""

    def __init__(self, message: str, path: Path | str | None = None) -> None:
        super().__init__(message)
        self.path = Path(path) if path is not None else None


class IndexNotFoundError(RagError):
    """No index exists at the given folder."""


class CorruptIndexError(RagError):
    """An index folder exists but its files are missing, truncated or inconsistent."""


class IndexVersionError(CorruptIndexError):
    """An index written by a newer version of rag: unreadable here, and left as it is."""


class IndexOutdatedError(CorruptIndexError):
    """An index written by an older version of rag, in a format this one no longer reads: it is rebuilt."""


class IndexLockedError(RagError):
    """Another process holds the write lock of the index."""


class AnswererUnavailable(RagError):
    """An answerer backend cannot produce an answer now; the message is safe to show to users."""
