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


def test_the_main_entry_points_show_an_example() -> None:
    documented = [rag.load, rag.Bot.ask, rag.Bot.stream, rag.Bot.retrieve, rag.Bot.add_documents, rag.evaluate]
    documented += [rag.Answer, rag.Citation, rag.Settings]
    for item in documented:
        assert "Example" in (inspect.getdoc(item) or ""), item


def test_the_package_ships_type_information() -> None:
    from pathlib import Path

    assert (Path(rag.__file__).parent / "py.typed").is_file()
