"""The collections registry, its access rule, the lazy library, and the ``rag collections``/``users`` commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import rag
from rag.bot.library import Library
from rag.bot.registry import DEFAULT, Reader, Registry
from rag.cli.main import main
from rag.config import Settings
from rag.errors import CollectionNotFound, ConfigError
from server.audit import AuditLog
from server.users import UserStore

FACT = "Quillfeather employees receive exactly 23 weeks of parental leave."

ANN = Reader("ann", frozenset({"hr"}))
BOB = Reader("bob", frozenset({"engineering"}))
ROOT = Reader("root", admin=True)


@pytest.fixture
def folders(tmp_path: Path) -> Path:
    for name, text in [("docs", "The cafeteria serves soup on Fridays."), ("hr", FACT), ("eng", "Deploys run at 9.")]:
        (tmp_path / name).mkdir()
        (tmp_path / name / f"{name}.txt").write_text(text + "\n", encoding="utf-8")
    return tmp_path


@pytest.fixture
def registry(folders: Path) -> Registry:
    return Registry(folders / "collections.json", folders / "docs")


def test_without_a_file_there_is_only_default_open_to_everyone(registry: Registry) -> None:
    assert [c.name for c in registry.collections()] == [DEFAULT]
    assert registry.readable(BOB) == [DEFAULT] and registry.readable(Reader("x")) == [DEFAULT]
    assert not registry.path.exists()


def test_grants_decide_who_reads(registry: Registry, folders: Path) -> None:
    registry.add("hr", folders / "hr")
    registry.add("eng", folders / "eng")
    registry.grant("hr", group="hr")
    registry.grant("eng", user="bob")
    assert registry.readable(ANN) == ["default", "hr"]
    assert registry.readable(BOB) == ["default", "eng"]
    assert registry.readable(ROOT) == ["default", "eng", "hr"]
    registry.revoke("hr", group="hr")
    assert registry.readable(ANN) == ["default"]
    registry.restrict(DEFAULT)
    assert registry.readable(ANN) == [] and registry.readable(ROOT) == ["default", "eng", "hr"]
    registry.grant(DEFAULT, group="hr")
    assert registry.readable(ANN) == ["default"]
    registry.restrict(DEFAULT, restricted=False)
    assert registry.readable(Reader("x")) == ["default"]
    # Another process's registry sees every change at once (the file is re-read when it changes).
    assert Registry(registry.path, folders / "docs").readable(BOB) == ["default", "eng"]


def test_an_unreadable_collection_is_refused_exactly_as_an_absent_one(registry: Registry, folders: Path) -> None:
    registry.add("hr", folders / "hr")
    with pytest.raises(CollectionNotFound) as refused:
        registry.require(BOB, "hr")
    with pytest.raises(CollectionNotFound) as absent:
        registry.require(BOB, "nope")
    assert str(refused.value) == str(absent.value).replace("'nope'", "'hr'")


@pytest.mark.parametrize("name", ["../hr", "HR", "h r", "rag", "collections", "", "a" * 33, "hr/x", "1hr", "hr-x"])
def test_bad_names_are_refused(registry: Registry, folders: Path, name: str) -> None:
    with pytest.raises(ConfigError, match="bad collection name"):
        registry.add(name, folders / "hr")


def test_docs_folders_never_nest(registry: Registry, folders: Path) -> None:
    (folders / "docs" / "inner").mkdir()
    for folder in (folders / "docs", folders / "docs" / "inner", folders):
        with pytest.raises(ConfigError, match="overlap"):
            registry.add("hr", folder)
    registry.add("hr", folders / "hr")
    with pytest.raises(ConfigError, match="overlap"):
        registry.add("hr2", folders / "hr")
    with pytest.raises(ConfigError, match="no such folder"):
        registry.add("x", folders / "missing")
    # A registry that a changed RAG_DOCS now overlaps is refused when read, not served.
    with pytest.raises(ConfigError, match="overlap"):
        Registry(registry.path, folders).collections()


def test_the_library_loads_only_the_collections_asked_for(registry: Registry, folders: Path) -> None:
    registry.add("hr", folders / "hr")
    registry.add("eng", folders / "eng")
    registry.grant("hr", group="hr")
    settings = Settings(docs_dir=folders / "docs", index_dir=folders / "index", collections_file=registry.path)
    library = Library(settings)
    assert library.loaded == []
    with pytest.raises(CollectionNotFound):
        library.open("hr", BOB)
    assert library.loaded == []  # a refusal loads nothing
    bot = library.open("hr", ANN)
    assert library.loaded == ["hr"] and library.open("hr", ROOT) is bot
    assert bot.settings.collection == "hr" and bot.settings.index_dir == folders / "index" / "collections" / "hr"
    assert bot.ask("How many weeks of parental leave?").citations[0].source == "hr.txt"
    assert "hr.txt" not in library.open(DEFAULT, BOB).documents and library.loaded == ["default", "hr"]
    # rag.load(collection=) is the operator's way in: every collection, no grants needed.
    again = rag.load(settings=settings, collection="hr", progress=False)
    assert again.documents == ["hr.txt"]
    with pytest.raises(CollectionNotFound):
        rag.load(settings=settings, collection="nope", progress=False)
    with pytest.raises(ConfigError, match="drop --docs"):
        rag.load(folders / "docs", settings=settings, collection="hr", progress=False)


def test_collections_and_users_commands(
    folders: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(folders)
    monkeypatch.setenv("RAG_DOCS", str(folders / "docs"))
    monkeypatch.setenv("RAG_INDEX", str(folders / "index"))
    monkeypatch.setenv("RAG_COLLECTIONS_FILE", str(folders / "collections.json"))
    monkeypatch.setenv("RAG_USERS_FILE", str(folders / "users.json"))
    assert main(["collections", "add", "hr", "--docs", str(folders / "hr")]) == 0
    assert main(["collections", "grant", "hr", "--group", "hr"]) == 0
    assert main(["collections", "grant", "hr", "--user", "carl"]) == 0
    assert main(["collections", "revoke", "hr", "--user", "carl"]) == 0
    assert main(["collections", "add", "bad", "--docs", str(folders / "docs")]) == 2
    assert main(["collections", "grant", "nope", "--group", "hr"]) == 2
    capsys.readouterr()
    assert main(["collections", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(c["name"], c["groups"], c["users"], c["restricted"]) for c in listed] == [
        ("default", [], [], False),
        ("hr", ["hr"], [], True),
    ]
    assert listed[1]["index"] == str(folders / "index" / "collections" / "hr")
    assert main(["index", "--collection", "hr", "-q"]) == 0
    capsys.readouterr()
    assert main(["ask", "--collection", "hr", "--json", "How many weeks of parental leave?"]) == 0
    assert json.loads(capsys.readouterr().out)["citations"][0]["source"] == "hr.txt"
    assert main(["docs", "list", "--collection", "hr", "--json"]) == 0
    assert [d["name"] for d in json.loads(capsys.readouterr().out)] == ["hr.txt"]
    assert main(["ask", "--collection", "nope", "Who?"]) == 2

    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("ann-password\n"))
    assert main(["users", "add", "ann", "--role", "reader", "--group", "hr", "--group", "ops", "--password-stdin"]) == 0
    assert UserStore(folders / "users.json").get("ann").groups == frozenset({"hr", "ops"})  # type: ignore[union-attr]
    assert main(["users", "groups", "ann", "eng"]) == 0
    assert UserStore(folders / "users.json").get("ann").groups == frozenset({"eng"})  # type: ignore[union-attr]
    assert main(["users", "groups", "ann", "bad group"]) == 2
    assert main(["collections", "remove", "hr"]) == 0
    assert main(["collections", "remove", "default"]) == 2

    events = [(e["event"], e.get("collection")) for e in AuditLog(folders / "users.audit.jsonl").events()]
    assert events[:4] == [
        ("collection_added", "hr"),
        ("collection_grant", "hr"),
        ("collection_grant", "hr"),
        ("collection_revoke", "hr"),
    ]
    assert ("collection_removed", "hr") in events and ("user_groups_set", None) in events
