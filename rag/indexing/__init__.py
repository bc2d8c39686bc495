"""Indexing: keeping an index in step with its docs folder, on one machine or many.

- ``sync``: ``sync_store``, the one entry point, for whichever backend the settings name;
- ``faiss`` and ``postgres``: the job of each backend: build, refresh only what changed, commit in steps;
- ``refresh``: what both jobs share: the docs folder scanned and compared with the index's manifest;
- ``sentences``: which pooled vector each sentence keeps, for both jobs;
- ``texts``: the extracted text of each document, stored beside the index;
- ``progress``: files and chunks done, their rate and the time left, for a bar or a callback;
- ``catalog``: every document of the docs folder and the index, with its status;
- ``watch``: a running bot follows its docs folder;
- ``ray``: the embedding of a big corpus spread over a Ray cluster.

Indexing reads documents (``rag.ingest``) and writes stores (``rag.stores``); retrieval never imports it.
"""
