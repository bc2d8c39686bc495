"""The ``Bot``: the stages put together behind ``ask``, ``stream`` and ``retrieve``, and ``rag.load``.

- ``bot``: the ``Bot`` (a loaded index, an embedder and an answerer; its documents added, removed, refreshed);
- ``load``: ``rag.load``, every default resolved and the index brought up to date;
- ``questions``: what counts as a question;
- ``langchain``: ``bot.retriever``, the bot's retrieval as a LangChain ``BaseRetriever``;
- ``registry``: the collections (named docs folders, each with its own index) and who may read them;
- ``library``: every collection as a ``Bot``, loaded on first use, behind the one access check.
"""
