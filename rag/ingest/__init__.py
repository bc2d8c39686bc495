"""Ingest: from a file to the text, sentences and chunks that everything after it works on.

- ``readers/``: one reader per format (PDF, Word, HTML, text) turns a file's bytes into text and spans;
- ``documents``: which files of a docs folder count, the ``Document`` (text + SHA-256), what is skipped and why;
- ``chunking``: sentences and overlapping, sentence-aligned chunks with exact offsets, pages and sections.

This is the lowest stage: it imports only ``rag.config`` and ``rag.errors``.
"""
