"""The one entry point of indexing: ``sync_store`` brings the index of ``Settings.vector_backend`` up to date.

- ``"faiss"`` (default): ``rag.indexing.faiss.sync_index``, files under ``index/``, for one machine.
- ``"postgres"``: ``rag.indexing.postgres.sync_postgres``, PostgreSQL + pgvector at ``RAG_PG_DSN``, one index
  shared by every chat server and indexing job that connects to it.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from rag.config import Settings
from rag.embeddings import Embedder
from rag.indexing.faiss import sync_index
from rag.indexing.progress import ProgressCallback
from rag.indexing.refresh import IndexReport
from rag.ingest.documents import Document
from rag.stores.base import Store
from rag.stores.faiss import ChunkStore

__all__ = ["sync_store"]


def sync_store(
    settings: Settings,
    embedder: Embedder,
    *,
    documents: Sequence[Document] | None = None,
    rebuild: bool = False,
    progress: bool | ProgressCallback = True,
    current: Store | None = None,
    reindex: Sequence[str] = (),
    cancel: threading.Event | None = None,
) -> tuple[Store, IndexReport]:
    """Make the index of ``settings.vector_backend`` match the documents, and return it with what was done.

    ``progress``, ``reindex`` and ``cancel`` are ``sync_index``'s. The postgres backend commits one file at a
    time in its own way: it shows a bar when ``progress`` is True (a callback gets no events yet), and it
    cannot be cancelled yet.

    Raises:
        DocumentError, IndexVersionError, IndexLockedError, RagError: as ``rag.indexing.faiss.sync_index``.
        ConfigError: The postgres backend's server cannot be reached or lacks pgvector.
    """
    if settings.vector_backend == "postgres":
        from rag.indexing.postgres import sync_postgres
        from rag.stores.postgres import PostgresStore

        known = current if isinstance(current, PostgresStore) else None
        return sync_postgres(
            settings,
            embedder,
            documents=documents,
            rebuild=rebuild,
            progress=progress is True,
            current=known,
            reindex=reindex,
        )
    faiss_current = current if isinstance(current, ChunkStore) else None
    return sync_index(
        settings,
        embedder,
        documents=documents,
        rebuild=rebuild,
        progress=progress,
        current=faiss_current,
        reindex=reindex,
        cancel=cancel,
    )
