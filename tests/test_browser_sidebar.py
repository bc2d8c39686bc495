"""The Conversations sidebar in Chromium: search, rename and delete (after a confirmation), unique titles.

Desktop and phone (390×844, touch; the sidebar opened with its toggle), light and dark.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("gradio")
from playwright.sync_api import Browser, Page, expect

import rag
from server.users import UserStore
from tests.conftest import SEEDS
from tests.server_fixtures import running_server

pytestmark = pytest.mark.browser

PASSWORD = "rita-reads-a-lot"
LIST = "#conversations label"


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("sidebar")
    shutil.copytree(SEEDS, root / "docs")
    bot = rag.load(root / "docs", root / "index", progress=False)
    users = root / "users.json"
    store = UserStore(users)
    for name in ("desk-light", "desk-dark", "phone-light", "phone-dark"):
        store.add(name, "reader", PASSWORD)
    with running_server(bot, users) as url:
        yield url


def signed_in(browser: Browser, base: str, name: str, *, phone: bool, scheme: str) -> Page:
    context = browser.new_context(
        viewport={"width": 390, "height": 844} if phone else {"width": 1400, "height": 1000},
        is_mobile=phone,
        has_touch=phone,
        color_scheme=scheme,  # type: ignore[arg-type]
    )
    page = context.new_page()
    page.goto(base + "/", wait_until="load")
    page.locator("#username").fill(name)
    page.locator("#password").fill(PASSWORD)
    page.locator("#sign-in").click()
    expect(page.locator("#question textarea")).to_be_visible(timeout=20_000)
    return page


def ask(page: Page, question: str, expected: str) -> None:
    box = page.locator("#question textarea")
    box.fill(question)
    box.press("Enter")
    expect(page.locator("#chat [data-testid='bot']").last).to_contain_text(expected, timeout=20_000)


@pytest.mark.parametrize(("phone", "scheme"), [(False, "light"), (False, "dark"), (True, "light"), (True, "dark")])
def test_search_rename_and_delete_conversations(
    browser: Browser, base: str, phone: bool, scheme: str, tmp_path: Path
) -> None:
    page = signed_in(browser, base, f"{'phone' if phone else 'desk'}-{scheme}", phone=phone, scheme=scheme)
    if phone:
        page.wait_for_function("!document.getElementById('conversations-sidebar').classList.contains('open')")
    ask(page, "How many tokens was Mi:dm trained on?", "trillion")
    if phone:
        page.locator("#conversations-sidebar .toggle-button").tap()
    expect(page.locator(LIST)).to_have_count(1, timeout=20_000)
    expect(page.locator("#conversation-manage")).to_be_visible()
    expect(page.locator("#conversation-title input")).to_have_value("How many tokens was Mi:dm trained on?")
    page.locator("#new-chat").click()
    expect(page.locator("#conversation-manage")).to_be_hidden()
    if phone:  # the sidebar covers the chat on a phone: close it to ask
        page.locator("#conversations-sidebar .toggle-button").tap()
    ask(page, "How many tokens was Mi:dm trained on?", "trillion")
    ask(page, "Where was the KT-Microsoft agreement signed?", "Redmond")
    if phone:
        page.locator("#conversations-sidebar .toggle-button").tap()
    # The same first question twice: titles made unique.
    expect(page.locator(LIST)).to_have_text(
        ["How many tokens was Mi:dm trained on? (2)", "How many tokens was Mi:dm trained on?"], timeout=20_000
    )
    # Rename the current conversation.
    title = page.locator("#conversation-title input")
    expect(title).to_have_value("How many tokens was Mi:dm trained on? (2)")  # the current one's title
    title.fill("Mi:dm and the signing")
    title.press("Enter")
    expect(page.locator(LIST).first).to_have_text("Mi:dm and the signing", timeout=10_000)
    # Search.
    page.locator("#conversation-search input").fill("signing")
    expect(page.locator(LIST)).to_have_text(["Mi:dm and the signing"], timeout=10_000)
    page.locator("#conversation-search input").fill("")
    expect(page.locator(LIST)).to_have_count(2, timeout=10_000)
    page.screenshot(path=str(tmp_path / f"sidebar-{'phone' if phone else 'desktop'}-{scheme}.png"), full_page=True)
    # Delete: cancelling the confirmation keeps it; accepting deletes it and empties the chat.
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.locator("#conversation-delete").click()
    page.wait_for_timeout(800)
    expect(page.locator(LIST)).to_have_count(2)
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#conversation-delete").click()
    expect(page.locator(LIST)).to_have_text(["How many tokens was Mi:dm trained on?"], timeout=10_000)
    expect(page.locator("#chat [data-testid='bot']")).to_have_count(0)
    expect(page.locator("#conversation-manage")).to_be_hidden()
    page.context.close()
