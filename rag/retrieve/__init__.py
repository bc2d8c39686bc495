"""Retrieve: finding the passages that answer a question in a store.

- ``retriever``: dense search through the store, BM25, and their reciprocal-rank fusion into ``Passages``;
- ``vocabulary``: aliases, paraphrases and scripts a question and the documents may spell differently.
"""
