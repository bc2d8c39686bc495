"""The accounts file and ``rag users``: hashes only, owner-only, atomic writes, tokens, audit of changes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import rag
from rag.cli import main
from server.audit import AuditLog
from server.paths import data_paths
from server.users import UserStore, verify_password

ROOT = Path(__file__).resolve().parent.parent


def rag_users(tmp_path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RAG_USERS_FILE": str(tmp_path / "users.json")}
    return subprocess.run(
        [sys.executable, "-m", "rag.cli", "users", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )


def test_the_users_file_holds_hashes_only_and_is_private(tmp_path: Path) -> None:
    path = tmp_path / "users.json"
    store = UserStore(path)
    store.add("alice", "editor", "correct horse battery")
    token = store.issue_token("alice")
    text = path.read_text()
    assert "correct horse battery" not in text and token not in text
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    record = json.loads(text)["users"]["alice"]
    assert record["password"].startswith("scrypt$") and verify_password("correct horse battery", record["password"])
    assert not verify_password("correct horse batterY", record["password"])
    assert store.authenticate("alice", "correct horse battery") == store.get("alice")
    assert store.authenticate("alice", "wrong") is None and store.authenticate("nobody", "x" * 10) is None
    assert store.user_for_token(token) is not None and store.user_for_token(token + "x") is None
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".users.json.")] == []  # no temp files left


def test_two_users_with_the_same_password_get_different_hashes(tmp_path: Path) -> None:
    store = UserStore(tmp_path / "users.json")
    store.add("a", "reader", "same-password")
    store.add("b", "reader", "same-password")
    users = json.loads((tmp_path / "users.json").read_text())["users"]
    assert users["a"]["password"] != users["b"]["password"]


def test_a_new_token_replaces_the_old_one_and_revoke_ends_it(tmp_path: Path) -> None:
    store = UserStore(tmp_path / "users.json")
    store.add("bob", "reader", "bob-password")
    first = store.issue_token("bob")
    second = store.issue_token("bob")
    assert store.user_for_token(first) is None and store.user_for_token(second) is not None
    assert store.revoke_token("bob") is True
    assert store.user_for_token(second) is None and store.revoke_token("bob") is False


def test_bad_names_roles_and_passwords_are_refused(tmp_path: Path) -> None:
    store = UserStore(tmp_path / "users.json")
    with pytest.raises(rag.ConfigError, match="bad user name"):
        store.add("../etc", "reader", "long-enough")
    with pytest.raises(rag.ConfigError, match="unknown role"):
        store.add("carl", "root", "long-enough")
    with pytest.raises(rag.ConfigError, match="too short"):
        store.add("carl", "reader", "short")
    store.add("carl", "reader", "long-enough")
    with pytest.raises(rag.ConfigError, match="already exists"):
        store.add("carl", "admin", "long-enough")
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())


def test_rag_users_commands_end_to_end(tmp_path: Path) -> None:
    added = rag_users(tmp_path, "add", "alice", "--role", "admin", "--password-stdin", stdin="s3cret-passphrase\n")
    assert added.returncode == 0, added.stderr
    assert "requires sign-in" in added.stderr
    assert (
        rag_users(tmp_path, "add", "bob", "--role", "reader", "--password-stdin", stdin="bobs-password").returncode == 0
    )
    listed = rag_users(tmp_path, "list")
    assert listed.returncode == 0
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["NAME", "ROLE", "TOKEN"] and lines[1].split() == ["alice", "admin", "-"]
    token = rag_users(tmp_path, "token", "bob")
    assert token.returncode == 0 and token.stdout.strip().startswith("rag_")
    store = UserStore(tmp_path / "users.json")
    assert store.user_for_token(token.stdout.strip()) == store.get("bob")
    assert "yes" in rag_users(tmp_path, "list").stdout.splitlines()[2]
    assert rag_users(tmp_path, "revoke-token", "bob").returncode == 0
    assert store.user_for_token(token.stdout.strip()) is None
    assert rag_users(tmp_path, "passwd", "bob", "--password-stdin", stdin="new-bob-password\n").returncode == 0
    assert store.authenticate("bob", "new-bob-password") is not None
    assert rag_users(tmp_path, "remove", "bob").returncode == 0
    assert store.get("bob") is None
    missing = rag_users(tmp_path, "remove", "bob")
    assert missing.returncode == 2 and "no user called 'bob'" in missing.stderr
    bad_role = rag_users(tmp_path, "add", "eve", "--role", "root", "--password-stdin", stdin="whatever-pass\n")
    assert bad_role.returncode == 2
    no_terminal = rag_users(tmp_path, "add", "eve", "--role", "reader")
    assert no_terminal.returncode == 2 and "--password-stdin" in no_terminal.stderr
    # The audit log beside the users file has every change and no secret.
    log = data_paths(tmp_path / "users.json", tmp_path)[1]
    events = [e["event"] for e in AuditLog(log).events()]
    assert events == [
        "user_added",
        "user_added",
        "api_token_issued",
        "api_token_revoked",
        "password_changed",
        "user_removed",
    ]
    text = log.read_text()
    for secret in ("s3cret-passphrase", "bobs-password", "new-bob-password", token.stdout.strip()):
        assert secret not in text
    assert "s3cret-passphrase" not in (tmp_path / "users.json").read_text()


def test_users_file_flag_wins_over_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("RAG_USERS_FILE", str(tmp_path / "env.json"))
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("flag-password\n"))
    flag = tmp_path / "flag.json"
    assert main(["users", "add", "zed", "--role", "reader", "--password-stdin", "--users", str(flag)]) == 0
    assert flag.exists() and not (tmp_path / "env.json").exists()


def test_audit_log_refuses_secret_fields(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    with pytest.raises(ValueError, match="secrets"):
        log.record("login", user="a", source="x", password="hunter2")
    assert not (tmp_path / "audit.jsonl").exists()


def test_exposure_rules(tmp_path: Path) -> None:
    from ui.exposure import check_exposure, is_loopback

    missing = tmp_path / "users.json"
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "192.168.1.5", "example.com"))
    assert check_exposure("127.0.0.1", missing, no_auth=False) is False  # open on loopback, as before
    with pytest.raises(rag.ConfigError, match="rag users add NAME --role admin"):
        check_exposure("0.0.0.0", missing, no_auth=False)
    assert check_exposure("0.0.0.0", missing, no_auth=True) is False  # explicitly open
    UserStore(missing).add("root", "admin", "root-password")
    assert check_exposure("0.0.0.0", missing, no_auth=False) is True
    assert check_exposure("127.0.0.1", missing, no_auth=False) is True  # auth whenever the file exists
    assert check_exposure("0.0.0.0", missing, no_auth=True) is False
