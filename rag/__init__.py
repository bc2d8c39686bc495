"""rag: retrieval-augmented answers with cited passages, offline by default.

Example:
    >>> import rag
    >>> bot = rag.load()                     # seeds/ -> index/, extractive answerer
    >>> answer = bot.ask("Who signed the KT-Microsoft agreement, and where?")
    >>> answer.text, answer.citations[0].source

The public API is what ``__all__`` lists; everything else may change between releases.
"""

from rag.answer.answerers import Answerer
from rag.answer.types import Answer, Citation
from rag.bot.bot import Bot
from rag.bot.load import load
from rag.config import Settings
from rag.errors import (
    AnswererUnavailable,
    CollectionNotFound,
    ConfigError,
    CorruptIndexError,
    DocumentError,
    IndexLockedError,
    IndexNotFoundError,
    IndexVersionError,
    QuestionError,
    RagError,
)
from rag.eval.metrics import EvalResult, evaluate
from rag.indexing.catalog import DocumentInfo
from rag.indexing.faiss import IndexCancelled
from rag.indexing.progress import IndexProgress
from rag.indexing.watch import DocsWatcher
from rag.ingest.documents import Document
from rag.retrieve.passages import Passage, Passages

__all__ = [
    "Answer",
    "Answerer",
    "AnswererUnavailable",
    "Bot",
    "Citation",
    "CollectionNotFound",
    "ConfigError",
    "CorruptIndexError",
    "DocsWatcher",
    "Document",
    "DocumentError",
    "DocumentInfo",
    "EvalResult",
    "IndexCancelled",
    "IndexLockedError",
    "IndexNotFoundError",
    "IndexProgress",
    "IndexVersionError",
    "Passage",
    "Passages",
    "QuestionError",
    "RagError",
    "Settings",
    "evaluate",
    "load",
]

__version__ = "0.1.0"
