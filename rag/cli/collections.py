"""``rag collections add|list|remove|grant|revoke|restrict|open``: the registry of ``rag.bot.registry``.

Every change is written to the audit log beside the users file (who: the OS user at the terminal, from
``cli``), as ``rag users`` changes are. ``add`` only registers the folder: ``rag index --collection NAME``
builds its index (``rag serve`` builds it on first use otherwise).
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path
from typing import Any

from rag.bot.registry import Registry, settings_for
from rag.config import Settings
from rag.errors import ConfigError

__all__ = ["run_collections"]


def _audit(settings: Settings, event: str, **details: object) -> None:
    from server.audit import AuditLog
    from server.paths import data_paths

    audit = AuditLog(data_paths(settings.users_file, Path("."))[1])
    audit.record(event, user=f"cli:{getpass.getuser()}", source="cli", **details)


def run_collections(args: argparse.Namespace, settings: Settings) -> int:
    """Run one ``rag collections`` action; returns the exit code (errors raise ``ConfigError``, exit 2)."""
    registry = Registry.of(settings)
    action = args.collections_command
    if action == "list":
        rows: list[dict[str, Any]] = []
        for entry in registry.collections():
            where = settings_for(settings, entry)
            index = where.pg_schema if settings.vector_backend == "postgres" else str(where.index_dir)
            readers = "everyone signed in" if not entry.restricted else _readers(entry.groups, entry.users)
            rows.append(
                {
                    "name": entry.name,
                    "docs": str(where.docs_dir),
                    "index": index,
                    "groups": sorted(entry.groups),
                    "users": sorted(entry.users),
                    "restricted": entry.restricted,
                    "readers": readers,
                }
            )
        if args.json:
            print(json.dumps(rows, ensure_ascii=False))
            return 0
        width = max(4, *(len(r["name"]) for r in rows))
        print(f"{'NAME':<{width}}  DOCS  ->  INDEX  (READERS)")
        for r in rows:
            print(f"{r['name']:<{width}}  {r['docs']}  ->  {r['index']}  ({r['readers']}; admins)")
        return 0
    name = args.name
    if action == "add":
        entry = registry.add(name, args.collection_docs)
        _audit(settings, "collection_added", collection=name, docs=str(entry.docs))
        print(f"added collection {name} over {entry.docs}; build its index with: rag index --collection {name}")
        print(f"nobody but admins reads it yet: rag collections grant {name} --group G", file=sys.stderr)
        return 0
    if action == "remove":
        registry.remove(name)
        _audit(settings, "collection_removed", collection=name)
        print(f"removed collection {name} (its docs folder and index stay on disk)", file=sys.stderr)
        return 0
    if action in {"grant", "revoke"}:
        change = registry.grant if action == "grant" else registry.revoke
        change(name, group=args.group, user=args.user)
        who = {"group": args.group} if args.group else {"target": args.user}
        _audit(settings, f"collection_{action}", collection=name, **who)
        whom = f"group {args.group}" if args.group else f"user {args.user}"
        verb = "may now read" if action == "grant" else "no longer reads (unless another grant covers them)"
        print(f"{whom} {verb} {name}", file=sys.stderr)
        return 0
    if action in {"restrict", "open"}:
        registry.restrict(name, restricted=action == "restrict")
        _audit(settings, f"collection_{'restricted' if action == 'restrict' else 'opened'}", collection=name)
        state = "only its grants (and admins) read" if action == "restrict" else "every signed-in user reads"
        print(f"{state} {name}", file=sys.stderr)
        return 0
    raise ConfigError(f"unknown collections action {action!r}")


def _readers(groups: frozenset[str], users: frozenset[str]) -> str:
    parts = [f"group {g}" for g in sorted(groups)] + [f"user {u}" for u in sorted(users)]
    return ", ".join(parts) or "nobody granted"
