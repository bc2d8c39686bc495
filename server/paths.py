"""Where the server keeps its state: beside the users file when auth is on, in the index folder when off."""

from __future__ import annotations

from pathlib import Path

__all__ = ["data_paths"]


def data_paths(users_file: Path | None, index_dir: Path) -> tuple[Path, Path]:
    """The SQLite database (conversations, sessions) and the audit log for this configuration.

    ``users.json`` -> ``users.conversations.sqlite3`` and ``users.audit.jsonl`` beside it; without a users
    file, ``conversations.sqlite3`` and ``audit.jsonl`` in the index folder.
    """
    if users_file is not None:
        stem = users_file.with_suffix("") if users_file.suffix == ".json" else users_file
        return stem.with_name(stem.name + ".conversations.sqlite3"), stem.with_name(stem.name + ".audit.jsonl")
    return index_dir / "conversations.sqlite3", index_dir / "audit.jsonl"
