"""Retrieve: finding the passages that answer a question in a store.

- ``retriever``: the ``Retriever`` of a store: dense search through the store, keyword ranking, and their
  reciprocal-rank fusion into ``Passages``;
- ``bm25``: Okapi BM25 in memory, for stores that do not rank keywords themselves;
- ``passages``: the ``Passage`` and its sentences scored against the question;
- ``scopes``: the documents a scoped question names (names, base names, glob patterns);
- ``vocabulary``: aliases, paraphrases and scripts a question and the documents may spell differently.
"""
