"""The accounts file: users, their roles, password hashes and API-token hashes.

One JSON file (``RAG_USERS_FILE``, flag ``--users``; ``users.json`` by default) holds every account. It never
holds a password or a token: passwords are stored as salted scrypt hashes (``hashlib.scrypt``, a standard slow
KDF), tokens as SHA-256 digests (a token is 32 random bytes, so a fast hash cannot be brute-forced). The file
is created readable by its owner only (0600) and every change is written to a temporary file in the same
folder, flushed and renamed over the old one, so a crash leaves either the old file or the new one.

A running server re-reads the file when it changes on disk, so ``rag users revoke-token`` takes effect at
once without a restart. A token may carry an expiry (``rag users token NAME --expires 90d``); after it, the
token is refused as expired. A file that cannot be read raises ``StateUnavailable`` naming it: ``rag serve``
stops at start (exit 2), a running server answers 503, and nothing ever rewrites it from an empty state.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from filelock import FileLock

from rag.errors import ConfigError
from rag.jsonfile import write_json_atomically
from server.db import StateUnavailable

__all__ = ["ROLES", "Role", "User", "UserStore", "hash_password", "hash_token", "role_allows", "verify_password"]

Role = Literal["reader", "editor", "admin"]
ROLES: tuple[Role, ...] = get_args(Role)
FORMAT_VERSION = 1
TOKEN_PREFIX = "rag_"
# scrypt cost: 2**14 x 8 x 1 takes about 40 ms and 16 MiB here; OWASP's floor for scrypt is N=2**17/r=8 or
# N=2**14 with more parallelism. Parameters are stored with each hash, so raising them later keeps old logins.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
MIN_PASSWORD_CHARS = 8


def role_allows(role: str, needed: str) -> bool:
    """Whether ``role`` includes everything ``needed`` may do (reader < editor < admin)."""
    return ROLES.index(role) >= ROLES.index(needed)


@dataclass(frozen=True)
class User:
    """A signed-in account as the server sees it: a name, a role and its groups (no secrets)."""

    name: str
    role: Role
    groups: frozenset[str] = frozenset()  # what collections are granted to (rag.bot.registry)

    def can(self, needed: Role) -> bool:
        """Whether this user's role allows what ``needed`` may do."""
        return role_allows(self.role, needed)


def hash_password(password: str) -> str:
    """A salted scrypt hash of ``password``: ``scrypt$N$r$p$salt$digest`` (base64)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches the ``hash_password`` string ``stored`` (constant-time compare)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=len(expected)
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


# A real hash to check against when a name is unknown, so a wrong name takes as long as a wrong password.
_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


def hash_token(token: str) -> str:
    """The SHA-256 hex digest under which a token is stored."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """A fresh API token: ``rag_`` and 32 random bytes, URL-safe."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


@dataclass
class _Account:
    role: Role
    password: str
    token_sha256: str | None = None
    created: float = field(default_factory=time.time)
    token_created: float | None = None
    token_expires: float | None = None  # Unix time after which the token is refused; None: never
    groups: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "groups": list(self.groups),
            "password": self.password,
            "token_sha256": self.token_sha256,
            "created": self.created,
            "token_created": self.token_created,
            "token_expires": self.token_expires,
        }

    def token_live(self, now: float) -> bool:
        return self.token_sha256 is not None and (self.token_expires is None or now < self.token_expires)


class UserStore:
    """The accounts in one users file. Thread-safe; reloads itself when the file changes on disk.

    Example:
        >>> store = UserStore(Path("users.json"))
        >>> store.add("alice", "editor", "correct horse battery")
        >>> token = store.issue_token("alice")
        >>> store.user_for_token(token)
        User(name='alice', role='editor', groups=frozenset())
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._accounts: dict[str, _Account] = {}
        self._by_token: dict[str, str] = {}
        self._stamp: tuple[int, int] | None = None  # (mtime_ns, size) of the file last read

    # Reading -----------------------------------------------------------------------------------------

    def exists(self) -> bool:
        """Whether the users file exists (auth is on whenever it does)."""
        return self.path.is_file()

    def _fresh(self) -> dict[str, _Account]:
        """The accounts, re-read if the file changed since the last read (one ``stat`` per call)."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            self._accounts, self._by_token, self._stamp = {}, {}, None
            return self._accounts
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp != self._stamp:
            self._accounts = self._read()
            self._by_token = {a.token_sha256: n for n, a in self._accounts.items() if a.token_sha256}
            self._stamp = stamp
        return self._accounts

    def _read(self) -> dict[str, _Account]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if data.get("version") != FORMAT_VERSION:
                raise ConfigError(f"{self.path}: unknown users file version {data.get('version')!r}")
            accounts = {}
            for name, raw in data["users"].items():
                if raw["role"] not in ROLES:
                    raise ConfigError(f"{self.path}: user {name!r} has an unknown role {raw['role']!r}")
                accounts[name] = _Account(
                    role=raw["role"],
                    password=raw["password"],
                    token_sha256=raw.get("token_sha256"),
                    created=float(raw.get("created", 0.0)),
                    token_created=raw.get("token_created"),
                    token_expires=None if raw.get("token_expires") is None else float(raw["token_expires"]),
                    groups=tuple(str(g) for g in raw.get("groups", ())),
                )
            return accounts
        except ConfigError as exc:
            raise StateUnavailable(f"{exc}; fix it or restore it from a backup") from None
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise StateUnavailable(
                f"cannot read the users file {self.path} ({type(exc).__name__}: {exc}); fix it or restore it "
                "from a backup (rag never rewrites it from scratch)"
            ) from None

    def users(self) -> list[tuple[User, bool]]:
        """Every account, by name, with whether it has an API token that has not expired."""
        now = time.time()
        with self._lock:
            accounts = self._fresh()
            return [(_user(n, a), a.token_live(now)) for n, a in sorted(accounts.items())]

    def token_expiry(self, name: str) -> float | None:
        """When ``name``'s API token expires (Unix time); None without a token or without an expiry."""
        with self._lock:
            account = self._fresh().get(name)
            return account.token_expires if account and account.token_sha256 else None

    def get(self, name: str) -> User | None:
        """The account called ``name``, or None."""
        with self._lock:
            account = self._fresh().get(name)
            return _user(name, account) if account else None

    def authenticate(self, name: str, password: str) -> User | None:
        """The user whose name and password these are, or None. Takes as long for an unknown name."""
        with self._lock:
            account = self._fresh().get(name)
        stored = account.password if account else _DUMMY_HASH
        ok = verify_password(password, stored)
        return _user(name, account) if ok and account else None

    def _token_holder(self, token: str) -> tuple[str, _Account] | None:
        """The name and account holding ``token`` (live or expired), or None."""
        digest = hash_token(token)
        with self._lock:
            accounts = self._fresh()
            name = self._by_token.get(digest)
            account = accounts.get(name) if name else None
            # compare_digest on the stored digest too, so the dict lookup is not the only check
            if name is None or account is None or account.token_sha256 is None:
                return None
            return (name, account) if hmac.compare_digest(account.token_sha256, digest) else None

    def user_for_token(self, token: str) -> User | None:
        """The user an API token belongs to, or None for an unknown, revoked or expired token."""
        holder = self._token_holder(token)
        if holder is None or not holder[1].token_live(time.time()):
            return None
        return _user(*holder)

    def token_expired(self, token: str) -> float | None:
        """When a known token expired (Unix time), for the error that says so; None for any other token."""
        holder = self._token_holder(token)
        if holder is None or holder[1].token_expires is None or holder[1].token_live(time.time()):
            return None
        return holder[1].token_expires

    # Writing -----------------------------------------------------------------------------------------

    def add(self, name: str, role: str, password: str, groups: Sequence[str] = ()) -> User:
        """Create an account. Raises ``ConfigError`` for a bad name, role, group or password, or a taken name."""
        _check_name(name)
        _check_role(role)
        _check_password(password)
        kept = _check_groups(groups)
        with self._edit() as accounts:
            if name in accounts:
                raise ConfigError(f"user {name!r} already exists; use `rag users passwd {name}` to change it")
            accounts[name] = _Account(role=role, password=hash_password(password), groups=kept)  # type: ignore[arg-type]
            return _user(name, accounts[name])

    def set_groups(self, name: str, groups: Sequence[str]) -> User:
        """Replace a user's groups (the collections granted to those groups follow at once)."""
        kept = _check_groups(groups)
        with self._edit() as accounts:
            account = self._require(accounts, name)
            account.groups = kept
            return _user(name, account)

    def remove(self, name: str) -> None:
        """Delete an account (and its token)."""
        with self._edit() as accounts:
            self._require(accounts, name)
            del accounts[name]

    def set_password(self, name: str, password: str) -> None:
        """Replace a user's password."""
        _check_password(password)
        with self._edit() as accounts:
            self._require(accounts, name).password = hash_password(password)

    def set_role(self, name: str, role: str) -> None:
        """Change a user's role."""
        _check_role(role)
        with self._edit() as accounts:
            self._require(accounts, name).role = role  # type: ignore[assignment]

    def issue_token(self, name: str, expires_s: float | None = None) -> str:
        """Give ``name`` a new API token (replacing any old one) and return it; only its hash is kept.

        ``expires_s``: seconds the token stays valid (None: until revoked).
        """
        if expires_s is not None and expires_s <= 0:
            raise ConfigError(f"a token's lifetime must be positive, got {expires_s} s")
        token = new_token()
        with self._edit() as accounts:
            account = self._require(accounts, name)
            account.token_sha256 = hash_token(token)
            account.token_created = time.time()
            account.token_expires = None if expires_s is None else account.token_created + expires_s
        return token

    def revoke_token(self, name: str) -> bool:
        """Revoke ``name``'s API token; returns whether there was one."""
        with self._edit() as accounts:
            account = self._require(accounts, name)
            had = account.token_sha256 is not None
            account.token_sha256 = None
            account.token_created = None
            account.token_expires = None
        return had

    @staticmethod
    def _require(accounts: dict[str, _Account], name: str) -> _Account:
        if name not in accounts:
            raise ConfigError(f"no user called {name!r}; `rag users list` shows who exists")
        return accounts[name]

    def _edit(self) -> _EditContext:
        return _EditContext(self)

    def _write(self, accounts: dict[str, _Account]) -> None:
        """Write ``accounts`` atomically, as a 0600 file (``write_json_atomically``)."""
        data = {"version": FORMAT_VERSION, "users": {n: a.to_json() for n, a in sorted(accounts.items())}}
        write_json_atomically(self.path, data)


class _EditContext:
    """Read the file fresh under the lock, let the caller change the accounts, write them back."""

    def __init__(self, store: UserStore) -> None:
        self.store = store
        # Two `rag users` commands at once must not lose each other's change: a lock file across processes.
        self.file_lock = FileLock(str(store.path) + ".lock")

    def __enter__(self) -> dict[str, _Account]:
        self.store.path.parent.mkdir(parents=True, exist_ok=True)
        self.file_lock.acquire(timeout=30)
        self.store._lock.acquire()
        try:
            self.store._stamp = None  # always re-read before a change: another process may have written
            return self.store._fresh()
        except BaseException:
            self.store._lock.release()
            self.file_lock.release()
            raise

    def __exit__(self, kind: object, *rest: object) -> None:
        try:
            if kind is None:
                self.store._write(self.store._accounts)
                self.store._stamp = None
        finally:
            self.store._lock.release()
            self.file_lock.release()


def _user(name: str, account: _Account) -> User:
    return User(name, account.role, frozenset(account.groups))


def _check_groups(groups: Sequence[str]) -> tuple[str, ...]:
    for group in groups:
        if not _NAME.match(group):
            raise ConfigError(
                f"bad group name {group!r}: use 1-64 letters, digits, '.', '_', '@' or '-', starting with a letter "
                "or digit"
            )
    return tuple(sorted(set(groups)))


def _check_name(name: str) -> None:
    if not _NAME.match(name):
        raise ConfigError(
            f"bad user name {name!r}: use 1-64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit"
        )


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise ConfigError(f"unknown role {role!r}; roles are {', '.join(ROLES)}")


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_CHARS:
        raise ConfigError(f"the password is too short: use at least {MIN_PASSWORD_CHARS} characters")
