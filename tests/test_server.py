"""The server over real HTTP: a uvicorn server on a free port, driven with httpx.

Tokens, roles, Gradio routes behind the login, private conversations, rate limits, login throttling, the
audit log, and ``rag serve`` refusing to start exposed without accounts.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

pytest.importorskip("gradio")

import rag
from server.audit import AuditLog
from server.users import UserStore
from tests.conftest import ANSWER_FIELDS, SEEDS
from tests.server_fixtures import free_port, running_server

PASSWORDS = {"rita": "rita-reads-a-lot", "ed": "ed-edits-docs-1", "ada": "ada-admin-pass"}
QUESTION = "Who signed the KT-Microsoft agreement, and where?"


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> rag.Bot:
    root = tmp_path_factory.mktemp("server-bot")
    shutil.copytree(SEEDS, root / "docs")
    return rag.load(root / "docs", root / "index", progress=False, chat_rate_limit=5)


@pytest.fixture(scope="module")
def accounts(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    users_file = tmp_path_factory.mktemp("accounts") / "users.json"
    store = UserStore(users_file)
    store.add("rita", "reader", PASSWORDS["rita"])
    store.add("ed", "editor", PASSWORDS["ed"])
    store.add("ada", "admin", PASSWORDS["ada"])
    tokens = {name: store.issue_token(name) for name in PASSWORDS}
    return users_file, tokens


@pytest.fixture(scope="module")
def base(bot: rag.Bot, accounts: tuple[Path, dict[str, str]]) -> Iterator[str]:
    with running_server(bot, accounts[0]) as url:
        yield url


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@contextmanager
def signed_in(base: str, name: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base, timeout=30) as client:
        reply = client.post("/login", data={"username": name, "password": PASSWORDS[name]})
        assert reply.status_code == 303, reply.text
        yield client


def test_ask_with_a_token_returns_the_cli_json(base: str, accounts: tuple[Path, dict[str, str]]) -> None:
    reply = httpx.post(f"{base}/api/ask", json={"question": QUESTION, "k": 3}, headers=bearer(accounts[1]["rita"]))
    assert reply.status_code == 200, reply.text
    data = reply.json()
    assert set(data) == set(ANSWER_FIELDS)
    fields = {"n", "source", "start", "end", "text", "score", "page", "page_label", "section"}
    assert set(data["citations"][0]) == fields
    assert "Nadella" in data["answer"] and data["citations"][0]["n"] == 1
    bad = httpx.post(f"{base}/api/ask", json={"question": "  "}, headers=bearer(accounts[1]["rita"]))
    assert bad.status_code == 400 and "empty" in bad.json()["error"]
    wrong = httpx.post(f"{base}/api/ask", json={"question": QUESTION, "k": 0}, headers=bearer(accounts[1]["rita"]))
    assert wrong.status_code == 422 and "k" in wrong.json()["error"]


def test_no_token_a_forged_token_or_a_revoked_token_gets_401(
    base: str, accounts: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    users_file, _ = accounts
    store = UserStore(users_file)
    store.add("temp", "reader", "temporary-pass")
    token = store.issue_token("temp")
    assert httpx.post(f"{base}/api/ask", json={"question": QUESTION}, headers=bearer(token)).status_code == 200
    store.revoke_token("temp")  # through the file, as `rag users revoke-token` does: the server re-reads it
    for headers in ({}, bearer("rag_" + "A" * 43), bearer(token), {"Authorization": "Basic cml0YTp4"}):
        reply = httpx.post(f"{base}/api/ask", json={"question": QUESTION}, headers=headers)
        assert reply.status_code == 401, (headers, reply.text)
        assert reply.json()["error"] and reply.headers["www-authenticate"].startswith("Bearer")
    store.remove("temp")


def test_a_role_too_low_gets_403_with_a_json_body(base: str, accounts: tuple[Path, dict[str, str]]) -> None:
    tokens = accounts[1]
    for name in ("rita", "ed"):
        reply = httpx.get(f"{base}/api/users", headers=bearer(tokens[name]))
        assert reply.status_code == 403 and "admin" in reply.json()["error"]
    users = httpx.get(f"{base}/api/users", headers=bearer(tokens["ada"])).json()
    roles = {u["name"]: u["role"] for u in users}
    assert roles.items() >= {"rita": "reader", "ed": "editor", "ada": "admin"}.items()
    assert "password" not in json.dumps(users) and "scrypt" not in json.dumps(users)


def test_gradio_routes_cannot_be_used_without_signing_in(base: str, accounts: tuple[Path, dict[str, str]]) -> None:
    page = httpx.get(f"{base}/", headers={"accept": "text/html"})
    assert page.status_code == 303 and page.headers["location"].startswith("/login")
    calls = [
        ("GET", "/config", None),
        ("GET", "/gradio_api/info", None),
        ("GET", "/gradio_api/openapi.json", None),
        ("POST", "/gradio_api/run/ask", {"data": [QUESTION]}),
        ("POST", "/gradio_api/call/ask", {"data": [QUESTION]}),
        ("POST", "/gradio_api/queue/join", {"data": [], "fn_index": 0, "session_hash": "x"}),
        ("GET", "/gradio_api/queue/data?session_hash=x", None),
        ("POST", "/gradio_api/upload", None),
        ("GET", "/gradio_api/heartbeat/x", None),
        ("POST", "/gradio_api/reset", None),
        ("GET", "/gradio_api/file=/etc/hostname", None),
    ]
    for method, path, body in calls:
        reply = httpx.request(method, f"{base}{path}", json=body, headers=bearer(accounts[1]["ada"]))
        # A Bearer token is for /api only: the chat's routes take a signed-in browser.
        assert reply.status_code == 401, (path, reply.status_code, reply.text[:200])
    with signed_in(base, "rita") as client:
        answer = client.post("/gradio_api/run/ask", json={"data": [QUESTION]})
        assert answer.status_code == 200 and "Nadella" in answer.json()["data"][0]["answer"]


def test_a_readers_upload_is_refused_over_http(base: str) -> None:
    with signed_in(base, "rita") as reader:
        refused = reader.post("/gradio_api/upload", files={"files": ("note.txt", b"Zorblat is in Oslo.")})
        assert refused.status_code == 403 and "editor" in refused.json()["error"]
    with signed_in(base, "ed") as editor:
        accepted = editor.post("/gradio_api/upload", files={"files": ("note.txt", b"Zorblat is in Oslo.")})
        assert accepted.status_code == 200, accepted.text


def test_wrong_password_and_sign_out(base: str) -> None:
    wrong = httpx.post(f"{base}/login", data={"username": "ed", "password": "not-his-password"})
    assert wrong.status_code == 401 and "Wrong user name or password" in wrong.text
    with signed_in(base, "ed") as client:
        assert client.get("/api/me").json() == {"name": "ed", "role": "editor", "auth": True}
        cookie = client.cookies.get("rag_session")
        out = client.post("/logout")
    assert out.status_code == 303 and out.headers["location"].startswith("/login")
    assert 'action="/logout"' in httpx.get(f"{base}/logout").text  # a GET asks first, changes nothing
    # The old cookie is dead on the server, not only forgotten by this browser.
    replay = httpx.get(f"{base}/api/me", cookies={"rag_session": cookie or ""})
    assert replay.status_code == 401
    assert httpx.get(f"{base}/config", cookies={"rag_session": cookie or ""}).status_code == 401


def test_login_redirects_only_within_the_site(base: str) -> None:
    with httpx.Client(base_url=base) as client:
        reply = client.post(
            "/login", data={"username": "rita", "password": PASSWORDS["rita"], "next": "//evil.example/x"}
        )
        assert reply.status_code == 303 and reply.headers["location"] == "/"


def test_failed_logins_are_throttled_per_user(base: str) -> None:
    # A name no one else tries: 5 wrong passwords, then further attempts are refused for a while.
    statuses = [
        httpx.post(f"{base}/login", data={"username": "victim", "password": f"guess-{i}"}).status_code for i in range(5)
    ]
    assert statuses == [401] * 5
    blocked = httpx.post(f"{base}/login", data={"username": "victim", "password": "guess-6"})
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0
    assert "Too many failed sign-ins" in blocked.text


def test_questions_over_the_rate_limit_get_429_with_retry_after(
    base: str, accounts: tuple[Path, dict[str, str]]
) -> None:
    users_file, _ = accounts
    store = UserStore(users_file)
    store.add("quick", "reader", "quick-asker-1")
    token = store.issue_token("quick")
    replies = [httpx.post(f"{base}/api/ask", json={"question": QUESTION}, headers=bearer(token)) for _ in range(6)]
    assert [r.status_code for r in replies] == [200] * 5 + [429]  # the bot's chat_rate_limit is 5 a minute
    assert 0 < int(replies[-1].headers["retry-after"]) <= 60 and "limit" in replies[-1].json()["error"]
    # Another user is not affected.
    other = httpx.post(f"{base}/api/ask", json={"question": QUESTION}, headers=bearer(accounts[1]["ed"]))
    assert other.status_code == 200


def test_conversations_are_private(base: str, bot: rag.Bot, accounts: tuple[Path, dict[str, str]]) -> None:
    from server.conversations import ConversationStore
    from server.db import Database
    from server.paths import data_paths

    db = Database(data_paths(accounts[0], bot.settings.index_dir)[0])
    store = ConversationStore(db)
    answer = bot.ask(QUESTION).to_dict()
    mine = store.append("rita", None, QUESTION, "<p>html</p>", answer)
    tokens = accounts[1]
    listed = httpx.get(f"{base}/api/conversations", headers=bearer(tokens["rita"])).json()
    assert [c["id"] for c in listed] == [mine]
    got = httpx.get(f"{base}/api/conversations/{mine}", headers=bearer(tokens["rita"])).json()
    assert got["turns"][0]["question"] == QUESTION and got["turns"][0]["answer"]["answer"] == answer["answer"]
    md = httpx.get(f"{base}/api/conversations/{mine}/export?format=markdown", headers=bearer(tokens["rita"]))
    assert md.status_code == 200 and md.headers["content-type"].startswith("text/markdown")
    assert f"## {QUESTION}" in md.text and "[1]" in md.text and "attachment" in md.headers["content-disposition"]
    js = httpx.get(f"{base}/api/conversations/{mine}/export?format=json", headers=bearer(tokens["rita"]))
    assert js.json()["id"] == mine
    # Ed cannot list, open, export or delete Rita's conversation: it reads as missing.
    assert httpx.get(f"{base}/api/conversations", headers=bearer(tokens["ed"])).json() == []
    for method, path in [
        ("GET", f"/api/conversations/{mine}"),
        ("GET", f"/api/conversations/{mine}/export?format=json"),
        ("DELETE", f"/api/conversations/{mine}"),
    ]:
        reply = httpx.request(method, f"{base}{path}", headers=bearer(tokens["ed"]))
        assert reply.status_code == 404 and "error" in reply.json()
    assert httpx.delete(f"{base}/api/conversations/{mine}", headers=bearer(tokens["rita"])).status_code == 204
    db.close()


def test_openapi_documents_the_api(base: str) -> None:
    spec = httpx.get(f"{base}/openapi.json").json()
    assert "/api/ask" in spec["paths"] and "/api/conversations/{conversation_id}" in spec["paths"]
    body = spec["components"]["schemas"]["AskRequest"]["properties"]
    assert set(body) == {"question", "k", "sources", "collection"}
    docs = httpx.get(f"{base}/docs")
    assert docs.status_code == 200 and "cdn." not in docs.text  # served offline, allowed by the page's CSP
    assets = re.findall(r'(?:src|href)="(/static-offline-docs/[^"]+)"', docs.text)
    assert assets and all(httpx.get(f"{base}{asset}").status_code == 200 for asset in assets), assets


def test_unknown_api_paths_do_not_fall_through_to_the_chat(base: str) -> None:
    reply = httpx.get(f"{base}/api/nope")
    assert reply.status_code == 404 and reply.json()["error"]


def test_audit_log_has_the_events_and_no_secrets(base: str, accounts: tuple[Path, dict[str, str]]) -> None:
    httpx.post(f"{base}/login", data={"username": "ada", "password": "wrong-wrong-wrong"})
    with signed_in(base, "ada") as client:
        client.post("/logout")
    with signed_in(base, "rita") as reader:
        reader.post("/gradio_api/upload", files={"files": ("x.txt", b"text")})
    from server.paths import data_paths

    log_path = data_paths(accounts[0], Path("unused"))[1]
    events = AuditLog(log_path).events()
    kinds = {(e["event"], e["user"]) for e in events}
    assert {("login_failed", "ada"), ("login", "ada"), ("logout", "ada"), ("upload_refused", "rita")} <= kinds
    assert all(e["from"] == "127.0.0.1" for e in events if e["event"].startswith(("login", "logout")))
    assert all(e["ts"].endswith("Z") for e in events)
    text = log_path.read_text()
    for secret in [*PASSWORDS.values(), "wrong-wrong-wrong", *accounts[1].values()]:
        assert secret not in text
    assert oct(log_path.stat().st_mode & 0o777) == "0o600"


def test_open_server_without_users_needs_no_token_and_shares_one_history(bot: rag.Bot) -> None:
    with running_server(bot, None) as url:
        reply = httpx.post(f"{url}/api/ask", json={"question": QUESTION})
        assert reply.status_code == 200 and reply.json()["citations"]
        assert httpx.get(f"{url}/api/me").json() == {"name": "anonymous", "role": "admin", "auth": False}
        assert httpx.get(f"{url}/", headers={"accept": "text/html"}).status_code == 200
        assert httpx.get(f"{url}/api/conversations").status_code == 200


def _serve(args: list[str], env_extra: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent), **env_extra}
    return subprocess.Popen(
        [sys.executable, "-m", "rag.cli", "serve", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_serve_refuses_a_non_loopback_host_without_users(tmp_path: Path) -> None:
    port = free_port()
    users = tmp_path / "users.json"
    started = time.monotonic()
    process = _serve(["--host", "0.0.0.0", "--port", str(port)], {"RAG_USERS_FILE": str(users)}, tmp_path)
    _, err = process.communicate(timeout=60)
    elapsed = time.monotonic() - started
    assert process.returncode == 2
    assert "rag users add NAME --role admin" in err and "--no-auth" in err
    assert elapsed < 10  # refused before loading a model or opening a port
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
    assert not users.exists()


def test_admins_manage_users_over_the_api_and_others_cannot(base: str, accounts: tuple[Path, dict[str, str]]) -> None:
    tokens = accounts[1]
    new = {"name": "newbie", "role": "reader", "password": "newbie-password"}
    assert httpx.post(f"{base}/api/users", json=new, headers=bearer(tokens["ed"])).status_code == 403
    created = httpx.post(f"{base}/api/users", json=new, headers=bearer(tokens["ada"]))
    assert created.status_code == 201 and created.json() == {"name": "newbie", "role": "reader", "token": False}
    assert httpx.post(f"{base}/api/users", json=new, headers=bearer(tokens["ada"])).status_code == 409
    token = httpx.post(f"{base}/api/users/newbie/token", headers=bearer(tokens["ada"])).json()["token"]
    assert httpx.get(f"{base}/api/me", headers=bearer(token)).json()["name"] == "newbie"
    assert httpx.delete(f"{base}/api/users/newbie/token", headers=bearer(tokens["ada"])).status_code == 204
    assert httpx.get(f"{base}/api/me", headers=bearer(token)).status_code == 401
    assert httpx.delete(f"{base}/api/users/newbie", headers=bearer(tokens["rita"])).status_code == 403
    assert httpx.delete(f"{base}/api/users/newbie", headers=bearer(tokens["ada"])).status_code == 204
    assert UserStore(accounts[0]).get("newbie") is None
    from server.paths import data_paths

    log_path = data_paths(accounts[0], Path("unused"))[1]
    mine = [e for e in AuditLog(log_path).events() if e.get("target") == "newbie"]
    assert [(e["event"], e["user"]) for e in mine] == [
        ("user_added", "ada"),
        ("api_token_issued", "ada"),
        ("api_token_revoked", "ada"),
        ("user_removed", "ada"),
    ]
    assert "newbie-password" not in log_path.read_text() and token not in log_path.read_text()


def test_the_chats_own_ask_endpoint_counts_against_the_same_rate_limit(
    base: str, accounts: tuple[Path, dict[str, str]]
) -> None:
    UserStore(accounts[0]).add("chatty", "reader", "chatty-password")
    PASSWORDS["chatty"] = "chatty-password"
    with signed_in(base, "chatty") as client:
        codes = [client.post("/gradio_api/run/ask", json={"data": [QUESTION]}).status_code for _ in range(6)]
        assert codes[:5] == [200] * 5 and codes[5] != 200
        assert client.post("/api/ask", json={"question": QUESTION}).status_code == 429


def test_changing_a_password_from_the_cli_signs_the_user_out(base: str, accounts: tuple[Path, dict[str, str]]) -> None:
    UserStore(accounts[0]).add("moving", "reader", "moving-password")
    PASSWORDS["moving"] = "moving-password"
    with signed_in(base, "moving") as client:
        assert client.get("/api/me").status_code == 200
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
        changed = subprocess.run(
            [
                sys.executable,
                "-m",
                "rag.cli",
                "users",
                "passwd",
                "moving",
                "--password-stdin",
                "--users",
                str(accounts[0]),
            ],
            input="a-brand-new-password\n",
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert changed.returncode == 0, changed.stderr
        assert client.get("/api/me").status_code == 401
        assert client.get("/config").status_code == 401


def test_rag_serve_with_a_users_file_requires_sign_in(tmp_path: Path) -> None:
    shutil.copytree(SEEDS, tmp_path / "docs")
    users = tmp_path / "users.json"
    store = UserStore(users)
    store.add("op", "admin", "operator-password")
    token = store.issue_token("op")
    port = free_port()
    env = {"RAG_USERS_FILE": str(users), "RAG_DOCS": str(tmp_path / "docs"), "RAG_INDEX": str(tmp_path / "index")}
    process = _serve(["-q", "--port", str(port)], env, tmp_path)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert process.poll() is None, process.communicate()
            try:
                if httpx.get(f"{base}/healthz", timeout=1).json() == {"ok": True, "auth": True}:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        assert httpx.post(f"{base}/api/ask", json={"question": QUESTION}).status_code == 401
        reply = httpx.post(f"{base}/api/ask", json={"question": QUESTION}, headers=bearer(token), timeout=30)
        assert reply.status_code == 200 and reply.json()["citations"]
        assert httpx.get(f"{base}/", headers={"accept": "text/html"}).status_code == 303
    finally:
        process.terminate()
        process.communicate(timeout=30)


def test_an_admin_issues_a_token_that_expires_over_the_api(base: str, accounts: tuple[Path, dict[str, str]]) -> None:
    UserStore(accounts[0]).add("visitor", "reader", "visitor-password")
    admin = bearer(accounts[1]["ada"])
    bad = httpx.post(f"{base}/api/users/visitor/token?expires=soon", headers=admin)
    assert bad.status_code == 400 and "90d" in bad.json()["error"]
    token = httpx.post(f"{base}/api/users/visitor/token?expires=2s", headers=admin).json()["token"]
    assert httpx.get(f"{base}/api/me", headers=bearer(token)).status_code == 200
    time.sleep(2.5)
    expired = httpx.get(f"{base}/api/me", headers=bearer(token))
    assert expired.status_code == 401 and "expired" in expired.json()["error"]
