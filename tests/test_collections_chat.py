"""The chat's collection picker in a real browser: it lists only the viewer's collections and asks in the one picked.

``ann`` (group ``hr``) picks ``hr`` and gets its fact, cited; ``bob`` sees no picker (only ``default``) and
his question about hr's unique words gets nothing of it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("gradio")
from playwright.sync_api import Browser, Page, expect

import rag
from rag.bot.registry import Registry
from rag.config import Settings
from server.conversations import ConversationStore
from server.db import Database
from server.paths import data_paths
from server.users import UserStore
from tests.server_fixtures import running_server

pytestmark = pytest.mark.browser

FACT = "Quillfeather employees receive exactly 23 weeks of parental leave, approved by the Zephyrine committee."
QUESTION = "How many weeks of parental leave do Quillfeather employees receive?"
PASSWORDS = {"ann": "ann-password", "bob": "bob-password"}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    root = tmp_path_factory.mktemp("collections-chat")
    (root / "docs").mkdir()
    (root / "docs" / "cafeteria.txt").write_text("The cafeteria opens at 8 am and serves soup on Fridays.\n")
    (root / "hr").mkdir()
    (root / "hr" / "leave.txt").write_text(FACT + "\n")
    settings = Settings(docs_dir=root / "docs", index_dir=root / "index", collections_file=root / "collections.json")
    registry = Registry.of(settings)
    registry.add("hr", root / "hr")
    registry.grant("hr", group="hr")
    store = UserStore(root / "users.json")
    store.add("ann", "reader", PASSWORDS["ann"], groups=["hr"])
    store.add("bob", "reader", PASSWORDS["bob"])
    with running_server(rag.load(settings=settings, progress=False), root / "users.json") as base:
        yield base, root


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    yield context.new_page()
    context.close()


def sign_in(page: Page, base: str, name: str) -> None:
    page.goto(base + "/", wait_until="load")
    expect(page.locator("#login-form")).to_be_visible(timeout=20_000)
    page.locator("#username").fill(name)
    page.locator("#password").fill(PASSWORDS[name])
    page.locator("#sign-in").click()
    expect(page.locator("#signed-in-user")).to_have_text(name, timeout=20_000)


def ask(page: Page, question: str) -> None:
    box = page.locator("#question textarea")
    box.fill(question)
    box.press("Enter")


def test_the_member_picks_her_collection_and_gets_its_answer(page: Page, site: tuple[str, Path]) -> None:
    base, root = site
    sign_in(page, base, "ann")
    picker = page.locator("#collection")
    expect(picker).to_be_visible(timeout=20_000)
    picker.locator("input").click()
    options = page.locator("ul[role='listbox'] li")
    expect(options).to_have_count(2)
    expect(options).to_contain_text(["default", "hr"])
    options.filter(has_text="hr").click()
    ask(page, QUESTION)
    expect(page.locator("#chat")).to_contain_text("23 weeks", timeout=60_000)
    expect(page.locator("#evidence")).to_contain_text("leave.txt")
    saved = ConversationStore(Database(data_paths(root / "users.json", root)[0])).list("ann")
    assert saved and saved[0].collection == "hr"


def test_the_outsider_has_no_picker_and_no_answer_from_hr(page: Page, site: tuple[str, Path]) -> None:
    base, _ = site
    sign_in(page, base, "bob")
    expect(page.locator("#question textarea")).to_be_visible(timeout=20_000)
    ask(page, QUESTION)
    expect(page.locator("#chat .message").nth(1)).to_be_visible(timeout=60_000)
    page.wait_for_timeout(1000)
    expect(page.locator("#collection")).to_be_hidden()
    text = page.locator("#chat").inner_text() + page.locator("#evidence").inner_text()
    assert "23 weeks" not in text and "leave.txt" not in text and "Zephyrine" not in text
