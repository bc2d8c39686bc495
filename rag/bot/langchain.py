"""A LangChain ``BaseRetriever`` over a ``Bot``, so ``bot.retriever`` plugs into any LangChain chain.

Kept in its own module because importing ``langchain_core`` takes about a second, which the CLI and the
extractive path do not need to pay.
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document as LCDocument
from langchain_core.retrievers import BaseRetriever

__all__ = ["BotRetriever"]


class BotRetriever(BaseRetriever):
    """Returns the bot's passages as LangChain documents, with source, offsets and score in metadata."""

    bot: Any
    k: int | None = None

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[LCDocument]:
        return [
            LCDocument(
                page_content=p.text,
                id=p.chunk.id,
                metadata={
                    "source": p.source,
                    "start": p.start,
                    "end": p.end,
                    "score": p.score,
                    "rank": p.rank,
                },
            )
            for p in self.bot.retrieve(query, k=self.k)
        ]
