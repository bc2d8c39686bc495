"""A LangChain ``BaseRetriever`` over a ``Bot``, so ``bot.retriever`` plugs into any LangChain chain.

It passes LangChain's standard retriever tests (``langchain-tests``' ``RetrieversIntegrationTests``):
``k`` is both a constructor field and an ``invoke`` keyword (``retriever.invoke(q, k=1)`` returns one
document), and ``sources`` limits the search as in ``Bot.retrieve``. Each document's metadata is the
passage's ``rag.answer.wire.passage_json`` without its text: source, offsets, score, rank, page, page label and
section.

Kept in its own module because importing ``langchain_core`` takes about a second, which the CLI and the
extractive path do not need to pay.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document as LCDocument
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables.config import run_in_executor

from rag.answer.wire import passage_json

__all__ = ["BotRetriever"]


class BotRetriever(BaseRetriever):
    """Returns the bot's passages as LangChain documents, with where each comes from in metadata.

    Example:
        >>> docs = bot.retriever.invoke("Who signed the agreement?", k=2)
        >>> docs[0].metadata["source"], docs[0].metadata["page"]  # doctest: +SKIP
    """

    bot: Any
    k: int | None = None
    sources: list[str] | None = None

    def _get_relevant_documents(
        self,
        query: str,
        *,
        run_manager: CallbackManagerForRetrieverRun,
        k: int | None = None,
        sources: Sequence[str] | None = None,
    ) -> list[LCDocument]:
        passages = self.bot.retrieve(
            query, k=self.k if k is None else k, sources=self.sources if sources is None else sources
        )
        return [LCDocument(page_content=p.text, id=p.chunk.id, metadata=passage_json(p, text=False)) for p in passages]

    async def _aget_relevant_documents(
        self,
        query: str,
        *,
        run_manager: AsyncCallbackManagerForRetrieverRun,
        k: int | None = None,
        sources: Sequence[str] | None = None,
    ) -> list[LCDocument]:
        # Retrieval is CPU work in the bot (embedding, FAISS, BM25): off the event loop, on LangChain's executor.
        return await run_in_executor(
            None, self._get_relevant_documents, query, run_manager=run_manager.get_sync(), k=k, sources=sources
        )
