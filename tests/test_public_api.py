from __future__ import annotations

import inspect

import rag


def test_all_lists_exactly_the_public_names() -> None:
    public = {name for name in dir(rag) if not name.startswith("_") and not inspect.ismodule(getattr(rag, name))}
    assert set(rag.__all__) == public
    assert {"load", "Bot", "Settings", "Answer", "Citation", "Answerer", "RagError"} <= set(rag.__all__)


def test_public_callables_have_docstrings() -> None:
    for name in rag.__all__:
        assert inspect.getdoc(getattr(rag, name)), name
    for method in ("ask", "retrieve", "stream", "add_documents", "refresh"):
        assert inspect.getdoc(getattr(rag.Bot, method)), method
