"""Signing in to the web chat in a real browser (Debian's Chromium via Playwright) on a real server.

Log in, a wrong password, sign out; a reader sees no upload control while an editor does; conversations are
saved to the sidebar, reopened and continued; the open (no accounts) server still serves the chat.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytest.importorskip("gradio")
from playwright.sync_api import Browser, Page, expect

import rag
from server.users import UserStore
from tests.conftest import SEEDS
from tests.server_fixtures import running_server

pytestmark = pytest.mark.browser

PASSWORDS = {"rita": "rita-reads-a-lot", "ed": "ed-edits-docs-1", "ada": "ada-admin-pass"}


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> rag.Bot:
    root = tmp_path_factory.mktemp("ui-auth")
    shutil.copytree(SEEDS, root / "docs")
    return rag.load(root / "docs", root / "index", progress=False)


@pytest.fixture(scope="module")
def users_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ui-auth-users") / "users.json"


@pytest.fixture(scope="module")
def base(bot: rag.Bot, users_file: Path) -> Iterator[str]:
    store = UserStore(users_file)
    store.add("rita", "reader", PASSWORDS["rita"])
    store.add("ed", "editor", PASSWORDS["ed"])
    store.add("ada", "admin", PASSWORDS["ada"])
    with running_server(bot, users_file) as url:
        yield url


@pytest.fixture
def page(browser: Browser, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    yield page
    page.screenshot(path=str(tmp_path / f"{request.node.name}.png"), full_page=True)
    context.close()


def sign_in(page: Page, base: str, name: str, password: str | None = None) -> None:
    page.goto(base + "/", wait_until="load")
    expect(page.locator("#login-form")).to_be_visible(timeout=20_000)  # the chat sent us to the login page
    page.locator("#username").fill(name)
    page.locator("#password").fill(password if password is not None else PASSWORDS[name])
    page.locator("#sign-in").click()


def ask(page: Page, question: str) -> None:
    box = page.locator("#question textarea")
    box.fill(question)
    box.press("Enter")


def test_sign_in_shows_the_user_and_sign_out_ends_the_session(page: Page, base: str) -> None:
    sign_in(page, base, "ed")
    expect(page.locator("#question textarea")).to_be_visible(timeout=20_000)
    expect(page.locator("#signed-in-user")).to_have_text("ed", timeout=20_000)
    expect(page.locator("#account-bar")).to_contain_text("(editor)")
    page.locator("#sign-out").click()
    expect(page.locator("#login-message")).to_contain_text("signed out", timeout=20_000)
    page.goto(base + "/", wait_until="load")
    expect(page.locator("#login-form")).to_be_visible(timeout=20_000)  # signed out: the chat is closed again


def test_a_wrong_password_is_refused_on_the_login_page(page: Page, base: str) -> None:
    sign_in(page, base, "rita", "not-her-password")
    expect(page.locator("#login-message")).to_contain_text("Wrong user name or password", timeout=20_000)
    expect(page.locator("#question textarea")).to_have_count(0)
    assert page.locator("#username").input_value() == "rita"


def test_a_reader_sees_no_upload_control_and_an_editor_does(page: Page, base: str, browser: Browser) -> None:
    sign_in(page, base, "rita")
    expect(page.locator("#signed-in-user")).to_have_text("rita", timeout=20_000)
    expect(page.get_by_text("Add documents")).to_have_count(0)
    expect(page.locator("input[type='file']")).to_have_count(0)
    expect(page.locator("#admin-users")).to_have_count(0)
    editor = browser.new_context().new_page()
    sign_in(editor, base, "ed")
    expect(editor.locator("#signed-in-user")).to_have_text("ed", timeout=20_000)
    expect(editor.get_by_text("Add documents")).to_be_visible()
    editor.context.close()


def test_conversations_are_saved_reopened_and_continued(page: Page, base: str) -> None:
    sign_in(page, base, "rita")
    expect(page.locator("#question textarea")).to_be_visible(timeout=20_000)
    ask(page, "Who signed the KT-Microsoft agreement, and where?")
    expect(page.locator("#chat [data-testid='bot']").last).to_contain_text("Nadella", timeout=20_000)
    saved = page.locator("#conversations label", has_text="Who signed the KT-Microsoft agreement")
    expect(saved).to_be_visible(timeout=20_000)
    expect(page.locator("#export-markdown")).to_be_visible()
    page.locator("#new-chat").click()
    expect(page.locator("#chat [data-testid='bot']")).to_have_count(0, timeout=10_000)
    saved.click()
    expect(page.locator("#chat [data-testid='bot']").last).to_contain_text("Nadella", timeout=20_000)
    ask(page, "and when will they reveal the specifics?")
    expect(page.locator("#chat [data-testid='bot']")).to_have_count(2, timeout=20_000)
    expect(page.locator("#chat [data-testid='bot']").last).to_contain_text("September", timeout=20_000)
    # Exported with the browser's own session; the second question went into the same conversation.
    href = page.locator("#export-json").get_attribute("href")
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    # The answer streams in before it is saved (the save follows its last piece): poll briefly.
    deadline = time.monotonic() + 10
    while True:
        exported = httpx.get(base + str(href), cookies=cookies).json()
        if len(exported["turns"]) == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert [t["question"] for t in exported["turns"]] == [
        "Who signed the KT-Microsoft agreement, and where?",
        "and when will they reveal the specifics?",
    ]
    expect(page.locator("#conversations label")).to_have_count(1)


def test_the_open_server_serves_the_chat_without_a_login(page: Page, bot: rag.Bot) -> None:
    with running_server(bot, None) as url:
        page.goto(url + "/", wait_until="load")
        expect(page.locator("#question textarea")).to_be_visible(timeout=20_000)
        expect(page.get_by_text("Add documents")).to_be_visible()
        ask(page, "Who signed the KT-Microsoft agreement, and where?")
        expect(page.locator("#chat [data-testid='bot']").last).to_contain_text("Nadella", timeout=20_000)
        expect(page.locator("#sign-out")).to_have_count(0)


def test_an_editors_upload_is_indexed_and_audited(page: Page, base: str, users_file: Path, tmp_path: Path) -> None:
    from server.audit import AuditLog
    from server.paths import data_paths

    note = tmp_path / "zorblat.md"
    note.write_text("Zorblat Corp was founded in Oslo in 1987 by the engineer Ada Berg.", encoding="utf-8")
    sign_in(page, base, "ed")
    expect(page.locator("#signed-in-user")).to_have_text("ed", timeout=20_000)
    page.get_by_text("Add documents").click()
    page.locator("input[type='file']").set_input_files(str(note))
    expect(page.locator("#upload-status")).to_contain_text("Added uploads/zorblat.md", timeout=60_000)
    events = AuditLog(data_paths(users_file, Path("unused"))[1]).events()
    uploads = [e for e in events if e["event"] == "upload"]
    assert uploads and uploads[-1]["user"] == "ed" and uploads[-1]["files"] == ["uploads/zorblat.md"]
    assert uploads[-1]["from"] == "127.0.0.1"


def test_an_admin_adds_and_removes_a_user_in_the_page(page: Page, base: str, users_file: Path) -> None:
    sign_in(page, base, "ada")
    expect(page.locator("#signed-in-user")).to_have_text("ada", timeout=20_000)
    page.get_by_text("Users (admins)").click()
    expect(page.locator("#users-table")).to_contain_text("rita", timeout=20_000)
    page.locator("#new-user-name textarea, #new-user-name input").first.fill("newcomer")
    page.locator("#new-user-password textarea, #new-user-password input").first.fill("newcomer-pass")
    page.locator("#add-user").click()
    expect(page.locator("#admin-status")).to_contain_text("Added newcomer (reader)", timeout=20_000)
    expect(page.locator("#users-table")).to_contain_text("newcomer")
    assert UserStore(users_file).authenticate("newcomer", "newcomer-pass") is not None
    page.locator("#remove-user").click()
    expect(page.locator("#admin-status")).to_contain_text("Removed newcomer", timeout=20_000)
    assert UserStore(users_file).get("newcomer") is None
