"""``rag users ...``: add, list, remove accounts, change passwords, issue and revoke API tokens.

Every change is written to the audit log beside the users file (who: the OS user at the terminal, from
``cli``). Removing a user or changing a password also ends that user's browser sessions.
"""

from __future__ import annotations

import argparse
import getpass
import re
import sys
import time
from pathlib import Path

from rag.errors import ConfigError
from server.audit import AuditLog
from server.users import UserStore

__all__ = ["run_users_command"]


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        line = sys.stdin.readline()
        password = line[:-1] if line.endswith("\n") else line
        if not password:
            raise ConfigError("--password-stdin: stdin held no password")
        return password
    if not sys.stdin.isatty():
        raise ConfigError("no terminal to prompt for the password on; pass --password-stdin and pipe it in")
    first = getpass.getpass(f"Password for {args.name}: ")
    if getpass.getpass("Again: ") != first:
        raise ConfigError("the two passwords differ; nothing was changed")
    return first


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """``"90d"`` -> seconds. A number and one unit: ``s``, ``m``, ``h`` or ``d``.

    Raises:
        ConfigError: Anything else, with the forms that work.
    """
    match = re.fullmatch(r"\s*(\d+)\s*([smhd])\s*", text.lower())
    if not match or int(match.group(1)) == 0:
        raise ConfigError(f"--expires takes a positive number and a unit, such as 90d, 12h, 30m or 45s; got {text!r}")
    return float(int(match.group(1)) * _UNITS[match.group(2)])


def _stamp(when: float | None) -> str | None:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(when)) if when is not None else None


def _end_sessions(users_file: Path, name: str) -> None:
    """Sign ``name`` out of every browser, where the server has a database."""
    from server.db import Database
    from server.paths import data_paths
    from server.sessions import SessionStore

    db_path, _ = data_paths(users_file, Path("."))
    if db_path.exists():
        db = Database(db_path)
        try:
            SessionStore(db).end_all(name)
        finally:
            db.close()


def run_users_command(args: argparse.Namespace, users_file: Path) -> int:
    """Run one ``rag users`` action; returns the exit code (errors raise ``ConfigError``, exit 2)."""
    from server.paths import data_paths

    store = UserStore(users_file)
    audit = AuditLog(data_paths(users_file, Path("."))[1])
    actor = f"cli:{getpass.getuser()}"
    action = args.users_command
    if action == "list":
        if not store.exists():
            print(f"no users yet ({users_file} does not exist); add one with: rag users add NAME --role admin")
            return 0
        rows = store.users()
        width = max([4, *(len(u.name) for u, _ in rows)])
        print(f"{'NAME':<{width}}  {'ROLE':<6}  TOKEN")
        for user, has_token in rows:
            expiry = store.token_expiry(user.name)
            token = ("yes" if has_token else "expired") if expiry is not None else "yes" if has_token else "-"
            print(f"{user.name:<{width}}  {user.role:<6}  {token}{f' (expires {_stamp(expiry)})' if expiry else ''}")
        return 0
    if action == "add":
        password = _read_password(args)
        created = not store.exists()
        user = store.add(args.name, args.role, password, groups=args.groups or ())
        audit.record(
            "user_added", user=actor, source="cli", target=user.name, role=user.role, groups=sorted(user.groups)
        )
        print(f"added {user.name} ({user.role}) to {users_file}", file=sys.stderr)
        if created:
            print(f"{users_file} now exists: `rag serve` requires sign-in from now on", file=sys.stderr)
        return 0
    if action == "groups":
        user = store.set_groups(args.name, args.groups)
        audit.record("user_groups_set", user=actor, source="cli", target=user.name, groups=sorted(user.groups))
        print(f"{user.name} is now in: {', '.join(sorted(user.groups)) or 'no group'}", file=sys.stderr)
        return 0
    if action == "passwd":
        if store.get(args.name) is None:
            raise ConfigError(f"no user called {args.name!r}; `rag users list` shows who exists")
        store.set_password(args.name, _read_password(args))
        _end_sessions(users_file, args.name)
        audit.record("password_changed", user=actor, source="cli", target=args.name)
        print(f"changed the password of {args.name}; their browser sessions are ended", file=sys.stderr)
        return 0
    if action == "remove":
        store.remove(args.name)
        _end_sessions(users_file, args.name)
        audit.record("user_removed", user=actor, source="cli", target=args.name)
        print(f"removed {args.name}", file=sys.stderr)
        return 0
    if action == "token":
        lifetime = parse_duration(args.expires) if args.expires else None
        token = store.issue_token(args.name, expires_s=lifetime)
        expiry = store.token_expiry(args.name)
        audit.record("api_token_issued", user=actor, source="cli", target=args.name, expires=_stamp(expiry))
        print(token)
        until = f"; it expires {_stamp(expiry)}" if expiry else ""
        print(
            f"this is {args.name}'s new API token (any older one no longer works){until}; it is shown only once",
            file=sys.stderr,
        )
        return 0
    if action == "revoke-token":
        had = store.revoke_token(args.name)
        audit.record("api_token_revoked", user=actor, source="cli", target=args.name, had_one=had)
        print(f"revoked {args.name}'s API token" if had else f"{args.name} had no API token", file=sys.stderr)
        return 0
    raise ConfigError(f"unknown users action {action!r}")
