"""The chat shows the present, in Chromium: counts, reopened evidence, indexing controls, no stale hints.

After an upload the header and the Documents list agree, on that page and on a fresh one; "Cancel indexing"
shows only while an upload is indexed; a conversation reopened from the sidebar brings back its last answer's
evidence, whose ``[n]`` reaches its passage; no "Ask a question…" hint sits under the list; no "Chat" label
floats over the messages. Desktop and phone (390×844, touch), light and dark.
"""

from __future__ import annotations

import re
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

PASSWORD = "ed-edits-docs-1"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, rag.Bot]]:
    root = tmp_path_factory.mktemp("state")
    shutil.copytree(SEEDS, root / "docs")
    bot = rag.load(root / "docs", root / "index", progress=False)
    users = root / "users.json"
    UserStore(users).add("ed", "editor", PASSWORD)
    with running_server(bot, users) as url:
        yield url, bot


def signed_in(browser: Browser, base: str, *, phone: bool = False, scheme: str = "light") -> Page:
    context = browser.new_context(
        viewport={"width": 390, "height": 844} if phone else {"width": 1400, "height": 1000},
        is_mobile=phone,
        has_touch=phone,
        color_scheme=scheme,  # type: ignore[arg-type]
    )
    page = context.new_page()
    page.goto(base + "/", wait_until="load")
    page.locator("#username").fill("ed")
    page.locator("#password").fill(PASSWORD)
    page.locator("#sign-in").click()
    expect(page.locator("#question textarea")).to_be_visible(timeout=20_000)
    return page


def counts(page: Page) -> tuple[int, int]:
    """The document count in the header and in the Documents accordion's label."""
    header = re.search(r"(\d+) documents?", page.locator("#header").inner_text())
    label = re.search(r"Documents \((\d+)\)", page.locator("#documents").inner_text())
    assert header and label
    return int(header.group(1)), int(label.group(1))


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_after_an_upload_the_counts_agree_and_cancel_is_gone(
    browser: Browser, served: tuple[str, rag.Bot], scheme: str, tmp_path: Path
) -> None:
    base, bot = served
    page = signed_in(browser, base, scheme=scheme)
    before = len(bot.documents)
    expect(page.locator("#documents")).to_contain_text(f"Documents ({before})")
    page.get_by_text("Add documents").click()
    expect(page.locator("#upload-cancel")).to_be_hidden()
    note = tmp_path / f"quuxtron-{scheme}.md"
    note.write_text(f"The Quuxtron {scheme} gadget was designed by Professor Blip in 1999.", encoding="utf-8")
    page.locator("input[type='file']").set_input_files(str(note))
    expect(page.locator("#upload-status")).to_contain_text(f"Added uploads/{note.name}", timeout=60_000)
    expect(page.locator("#upload-cancel")).to_be_hidden(timeout=10_000)
    expect(page.locator("#documents")).to_contain_text(f"Documents ({before + 1})", timeout=10_000)
    assert counts(page) == (before + 1, before + 1)
    page.screenshot(path=str(tmp_path / f"after-upload-{scheme}.png"), full_page=True)
    fresh = signed_in(browser, base, scheme=scheme)  # a reload: the list is as current as the header
    expect(fresh.locator("#documents")).to_contain_text(f"Documents ({before + 1})", timeout=10_000)
    assert counts(fresh) == (before + 1, before + 1)
    fresh.context.close()
    page.context.close()


@pytest.mark.parametrize(("phone", "scheme"), [(False, "light"), (False, "dark"), (True, "light"), (True, "dark")])
def test_a_reopened_conversation_brings_back_its_evidence(
    browser: Browser, served: tuple[str, rag.Bot], phone: bool, scheme: str, tmp_path: Path
) -> None:
    base, _ = served
    page = signed_in(browser, base, phone=phone, scheme=scheme)
    expect(page.get_by_text("Ask a question to start a conversation")).to_have_count(0)
    expect(page.locator("#chat [data-testid='block-label']")).to_have_count(0)  # no floating "Chat" label
    box = page.locator("#question textarea")
    box.fill(f"How many tokens was Mi:dm trained on? ({scheme}, {'phone' if phone else 'desktop'})")
    box.press("Enter")
    expect(page.locator("#chat [data-testid='bot']").last).to_contain_text("trillion", timeout=20_000)
    expect(page.locator("#evidence")).to_contain_text("trillion")
    toggle = page.locator("#conversations-sidebar .toggle-button")
    if phone:
        toggle.tap()
    saved = page.locator("#conversations label", has_text=f"({scheme}, {'phone' if phone else 'desktop'})")
    expect(saved).to_be_visible(timeout=20_000)
    expect(page.get_by_text("Ask a question to start a conversation")).to_have_count(0)
    page.locator("#new-chat").click()
    expect(page.locator("#evidence")).not_to_contain_text("trillion")
    saved.click()
    expect(page.locator("#chat [data-testid='bot']").last).to_contain_text("trillion", timeout=20_000)
    expect(page.locator("#evidence .rag-passage")).to_contain_text("trillion")  # not an empty panel
    expect(page.locator("#evidence mark")).to_contain_text("trillion")
    if phone:
        toggle.tap()
        page.wait_for_timeout(500)
    page.screenshot(path=str(tmp_path / f"reopened-{'phone' if phone else 'desktop'}-{scheme}.png"), full_page=True)
    if not phone:  # beside the chat, the reopened answer's [1] flashes its passage in the panel
        page.locator("#chat a.rag-cite").first.click()
        expect(page.locator("#evidence .rag-flash")).to_contain_text("trillion")
    page.context.close()
