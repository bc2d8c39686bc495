"""Stores: where an index's chunks and vectors are kept and searched, behind one protocol.

- ``base``: the ``Store`` protocol the retriever, the grounding check and the ``Bot`` use (and ``Scope``,
  ``KeywordSearch``, ``SharedStore``);
- ``faiss``: the embedded default, FAISS and files under ``index/`` (``segments``, ``codec``);
- ``postgres``: PostgreSQL with pgvector, one index shared by many processes (``postgres_schema``);
- ``manifest``: what an index records of its settings and files, kept by both.

Stores are written by the indexing jobs (``rag.indexing``) and never import them.
"""

from rag.stores.base import KeywordIndex, KeywordSearch, Scope, SharedStore, Store

__all__ = ["KeywordIndex", "KeywordSearch", "Scope", "SharedStore", "Store"]
