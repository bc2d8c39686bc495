"""Indexing: keeping an index in step with its docs folder, on one machine or many.

- ``faiss``: the job that builds and refreshes the FAISS index (only the files that changed);
- ``progress``: files and chunks done, their rate and the time left, for a bar or a callback;
- ``catalog``: every document of the docs folder and the index, with its status;
- ``watch``: a running bot follows its docs folder;
- ``ray``: the embedding of a big corpus spread over a Ray cluster.
"""
