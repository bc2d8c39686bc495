"""The collections registry: named document sets, each with its own docs folder and index, and who may read them.

A collection is a docs folder with an index of its own: FAISS files under ``<index_dir>/collections/NAME``,
or the PostgreSQL schema ``<pg_schema>__NAME``. ``default`` is the corpus of ``docs_dir``/``index_dir`` as
configured (``RAG_DOCS``/``RAG_INDEX``), so a server without a registry file behaves as it always has.

The registry is one JSON file (``Settings.collections_file``, ``RAG_COLLECTIONS_FILE``; ``collections.json``)
written atomically under a file lock, and re-read whenever it changes on disk, so a grant or a revoke from
``rag collections`` reaches a running server on its next request::

    {"version": 1, "collections": {"hr": {"docs": "/srv/hr", "groups": ["hr"], "users": [], "restricted": true}}}

Who may read a collection (``Registry.can_read``, the one rule every door reaches through
``rag.bot.library.Library.open``): an admin reads everything; ``default`` is readable by every signed-in
user until ``rag collections restrict default``; any other collection only by the users and groups granted
it. Docs folders never nest: a collection's folder inside ``default``'s would be indexed into ``default`` too
and leak through it, so such a registry is refused.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from filelock import FileLock

from rag.config import Settings
from rag.errors import CollectionNotFound, ConfigError
from rag.jsonfile import write_json_atomically

__all__ = [
    "DEFAULT",
    "OPERATOR",
    "Collection",
    "Reader",
    "Registry",
    "check_collection_name",
    "settings_for",
]

DEFAULT = "default"
FORMAT_VERSION = 1
# Lower-case SQL-safe names: the same name is a folder and part of a PostgreSQL schema name, so neither a
# path ("../x") nor a quote can hide in one. "rag" is the /v1 model id of default, so no collection takes it.
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_RESERVED = frozenset({"rag", "collections"})
_PRINCIPAL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")  # user and group names, as server.users allows
MAX_SHOWN_NAME = 80  # an unknown name echoed in an error is cut here: it is the caller's input, not ours


@dataclass(frozen=True)
class Reader:
    """Who asks to read a collection: a user name, their groups, and whether they are an admin."""

    name: str
    groups: frozenset[str] = frozenset()
    admin: bool = False


# The operator at the terminal (``rag ask --collection``): they hold the files already.
OPERATOR = Reader("cli", admin=True)


@dataclass(frozen=True)
class Collection:
    """One registry entry. ``docs`` is None for ``default`` (its folder is ``Settings.docs_dir``)."""

    name: str
    docs: Path | None = None
    groups: frozenset[str] = frozenset()
    users: frozenset[str] = frozenset()
    restricted: bool = True  # default starts open to every signed-in user; every other one closed

    def to_json(self) -> dict[str, Any]:
        """The entry as the registry file stores it."""
        return {
            "docs": str(self.docs) if self.docs is not None else None,
            "groups": sorted(self.groups),
            "users": sorted(self.users),
            "restricted": self.restricted,
        }


def check_collection_name(name: str) -> str:
    """``name`` if it can name a collection; raises ``ConfigError`` saying what a name may hold."""
    if not _NAME.match(name) or name in _RESERVED:
        raise ConfigError(
            f"bad collection name {shown(name)!r}: use 1-32 lower-case letters, digits or '_', starting with a "
            f"letter (not {' or '.join(sorted(_RESERVED))})"
        )
    return name


def shown(name: object) -> str:
    """A caller-given name, cut to a length fit for a message or a log line."""
    text = str(name)
    return text if len(text) <= MAX_SHOWN_NAME else text[:MAX_SHOWN_NAME] + "…"


def settings_for(settings: Settings, entry: Collection) -> Settings:
    """``settings`` pointed at ``entry``'s docs folder, its own index folder and its own PostgreSQL schema."""
    if entry.name == DEFAULT:
        return replace(settings, collection=DEFAULT)
    assert entry.docs is not None
    return replace(
        settings,
        collection=entry.name,
        docs_dir=entry.docs,
        index_dir=settings.index_dir / "collections" / entry.name,
        pg_schema=f"{settings.pg_schema}__{entry.name}",
    )


class Registry:
    """The collections of one registry file, with their grants. Thread-safe; follows the file's changes.

    Example:
        >>> registry = Registry(Path("collections.json"), default_docs=Path("seeds"))
        >>> registry.add("hr", Path("docs/hr"))
        >>> registry.grant("hr", group="hr")
        >>> registry.can_read(Reader("ann", frozenset({"hr"})), "hr")
        True
    """

    def __init__(self, path: Path, default_docs: Path) -> None:
        self.path = Path(path)
        self.default_docs = Path(default_docs)
        self._lock = threading.Lock()
        self._entries: dict[str, Collection] = {}
        self._stamp: tuple[int, int] | None = None

    @classmethod
    def of(cls, settings: Settings) -> Registry:
        """The registry ``settings`` name, with ``settings.docs_dir`` as ``default``'s folder."""
        return cls(settings.collections_file, settings.docs_dir)

    # Reading -----------------------------------------------------------------------------------------

    def _fresh(self) -> dict[str, Collection]:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            self._entries, self._stamp = {DEFAULT: Collection(DEFAULT, restricted=False)}, None
            return self._entries
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp != self._stamp:
            entries = self._read()
            _check_apart(self.default_docs, entries)
            self._entries, self._stamp = entries, stamp
        return self._entries

    def _read(self) -> dict[str, Collection]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if data.get("version") != FORMAT_VERSION:
                raise ConfigError(f"{self.path}: unknown collections file version {data.get('version')!r}")
            entries = {DEFAULT: Collection(DEFAULT, restricted=False)}
            for name, raw in data["collections"].items():
                if name != DEFAULT:
                    check_collection_name(name)
                entries[name] = Collection(
                    name=name,
                    docs=Path(raw["docs"]) if name != DEFAULT else None,
                    groups=frozenset(raw.get("groups", ())),
                    users=frozenset(raw.get("users", ())),
                    restricted=bool(raw.get("restricted", name != DEFAULT)) or name != DEFAULT,
                )
            return entries
        except ConfigError:
            raise
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(
                f"cannot read the collections file {self.path} ({type(exc).__name__}: {exc}); fix it or restore it"
            ) from None

    def collections(self) -> list[Collection]:
        """Every collection, ``default`` first, then by name."""
        with self._lock:
            entries = self._fresh()
        return sorted(entries.values(), key=lambda c: (c.name != DEFAULT, c.name))

    def get(self, name: str) -> Collection | None:
        """The collection called ``name``, or None."""
        with self._lock:
            return self._fresh().get(name)

    def can_read(self, reader: Reader, name: str) -> bool:
        """Whether ``reader`` may read the collection ``name`` (False for one that does not exist)."""
        entry = self.get(name) if isinstance(name, str) else None
        if entry is None:
            return False
        if reader.admin or (entry.name == DEFAULT and not entry.restricted):
            return True
        return reader.name in entry.users or bool(reader.groups & entry.groups)

    def readable(self, reader: Reader) -> list[str]:
        """The names of the collections ``reader`` may read, ``default`` first."""
        return [c.name for c in self.collections() if self.can_read(reader, c.name)]

    def require(self, reader: Reader, name: str) -> Collection:
        """The collection ``name`` if ``reader`` may read it; else ``CollectionNotFound``, as for no such name."""
        entry = self.get(name) if isinstance(name, str) else None
        if entry is None or not self.can_read(reader, name):
            raise CollectionNotFound(f"no collection named {shown(name)!r}; `rag collections list` shows them")
        return entry

    # Writing -----------------------------------------------------------------------------------------

    def add(self, name: str, docs: Path) -> Collection:
        """Register a collection over ``docs`` (an existing folder, not nested in or around another's)."""
        check_collection_name(name)
        folder = Path(docs).expanduser().resolve()
        if not folder.is_dir():
            raise ConfigError(f"--docs {docs}: no such folder")
        with self._edit() as entries:
            if name in entries:
                raise ConfigError(f"a collection named {name!r} already exists")
            entry = Collection(name, docs=folder)
            _check_apart(self.default_docs, {**entries, name: entry})
            entries[name] = entry
        return entry

    def remove(self, name: str) -> Collection:
        """Forget a collection (its docs folder and index stay on disk); ``default`` cannot be removed."""
        if name == DEFAULT:
            raise ConfigError("default cannot be removed; `rag collections restrict default` closes it")
        with self._edit() as entries:
            entry = _existing(entries, name)
            del entries[name]
        return entry

    def grant(self, name: str, *, group: str | None = None, user: str | None = None) -> Collection:
        """Let a group or a user read ``name``."""
        return self._change(name, group, user, add=True)

    def revoke(self, name: str, *, group: str | None = None, user: str | None = None) -> Collection:
        """Take back a grant of ``name`` from a group or a user."""
        return self._change(name, group, user, add=False)

    def restrict(self, name: str, restricted: bool = True) -> Collection:
        """Close ``default`` to everyone not granted it (``restricted=False`` opens it again)."""
        if name != DEFAULT:
            raise ConfigError(f"only default can be opened or restricted; {name!r} is readable by its grants only")
        with self._edit() as entries:
            entries[DEFAULT] = replace(entries[DEFAULT], restricted=restricted)
            return entries[DEFAULT]

    def _change(self, name: str, group: str | None, user: str | None, *, add: bool) -> Collection:
        if (group is None) == (user is None):
            raise ConfigError("name exactly one of --group G or --user U")
        principal = group if group is not None else user
        assert principal is not None
        if not _PRINCIPAL.match(principal):
            raise ConfigError(f"bad {'group' if group else 'user'} name {shown(principal)!r}")
        with self._edit() as entries:
            entry = _existing(entries, name)

            def changed(current: frozenset[str]) -> frozenset[str]:
                return current | {principal} if add else current - {principal}

            if group is not None:
                entries[name] = replace(entry, groups=changed(entry.groups))
            else:
                entries[name] = replace(entry, users=changed(entry.users))
            return entries[name]

    @contextmanager
    def _edit(self) -> Iterator[dict[str, Collection]]:
        """Read the file fresh under both locks, let the caller change the entries, write them back."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.path) + ".lock", timeout=30), self._lock:
            self._stamp = None  # another process may have written since
            entries = dict(self._fresh())
            yield entries
            self._write(entries)
            self._stamp = None

    def _write(self, entries: dict[str, Collection]) -> None:
        data = {"version": FORMAT_VERSION, "collections": {n: e.to_json() for n, e in sorted(entries.items())}}
        write_json_atomically(self.path, data)


def _existing(entries: dict[str, Collection], name: str) -> Collection:
    if name not in entries:
        raise ConfigError(f"no collection named {shown(name)!r}; `rag collections list` shows them")
    return entries[name]


def _check_apart(default_docs: Path, entries: dict[str, Collection]) -> None:
    """Refuse docs folders that are one another's, or inside one another: each would index the other's files."""
    folders = [(DEFAULT, Path(default_docs).expanduser().resolve())]
    folders += [(e.name, e.docs.resolve()) for e in entries.values() if e.docs is not None]
    for i, (a, a_path) in enumerate(folders):
        for b, b_path in folders[i + 1 :]:
            if a_path == b_path or a_path in b_path.parents or b_path in a_path.parents:
                raise ConfigError(
                    f"the docs folders of {a!r} ({a_path}) and {b!r} ({b_path}) overlap: each collection "
                    "needs a folder of its own, outside the others (else one's files are indexed into the other)"
                )
