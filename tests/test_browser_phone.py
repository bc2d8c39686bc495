"""The signed-in chat on a phone (390×844, touch) and on a desktop, in Chromium, light and dark.

Below 768 px the Conversations sidebar starts closed, so the question box and the ``[n]`` markers take taps
on arrival; its toggle still opens it, and it stays open. On a desktop it starts open.
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


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("phone")
    shutil.copytree(SEEDS, root / "docs")
    bot = rag.load(root / "docs", root / "index", progress=False)
    users = root / "users.json"
    UserStore(users).add("rita", "reader", PASSWORD)
    with running_server(bot, users) as url:
        yield url


def signed_in(browser: Browser, base: str, *, phone: bool, scheme: str) -> Page:
    size = {"width": 390, "height": 844} if phone else {"width": 1400, "height": 1000}
    context = browser.new_context(
        viewport=size,
        is_mobile=phone,
        has_touch=phone,
        color_scheme=scheme,  # type: ignore[arg-type]
    )
    page = context.new_page()
    page.goto(base + "/", wait_until="load")
    page.locator("#username").fill("rita")
    page.locator("#password").fill(PASSWORD)
    page.locator("#sign-in").click()
    expect(page.locator("#question textarea")).to_be_visible(timeout=20_000)
    return page


def sidebar_open(page: Page) -> bool:
    return bool(page.evaluate("document.getElementById('conversations-sidebar').classList.contains('open')"))


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_on_a_phone_the_sidebar_starts_closed_and_the_chat_takes_taps(
    browser: Browser, base: str, scheme: str, tmp_path: Path
) -> None:
    page = signed_in(browser, base, phone=True, scheme=scheme)
    page.wait_for_function("!document.getElementById('conversations-sidebar').classList.contains('open')")
    page.wait_for_timeout(500)  # it stays closed: nothing opens it again
    assert not sidebar_open(page)
    box = page.locator("#question textarea")
    box.tap()  # a tap, not a click: it must reach the box, not a sidebar over it
    expect(box).to_be_focused()
    box.fill("How many tokens was Mi:dm trained on?")
    box.press("Enter")
    marker = page.locator("#chat [data-testid='bot'] a.rag-cite").first
    expect(marker).to_be_visible(timeout=20_000)
    marker.tap()
    flashed = page.locator(".rag-flash")
    expect(flashed).to_contain_text("trillion")
    expect(flashed).to_be_in_viewport()
    page.screenshot(path=str(tmp_path / f"phone-{scheme}.png"))
    # The toggle still opens it, and it stays open.
    page.locator("#conversations-sidebar .toggle-button").tap()
    page.wait_for_timeout(800)
    assert sidebar_open(page)
    expect(page.locator("#new-chat")).to_be_in_viewport()
    page.screenshot(path=str(tmp_path / f"phone-sidebar-{scheme}.png"))
    page.context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_on_a_desktop_the_sidebar_starts_open(browser: Browser, base: str, scheme: str, tmp_path: Path) -> None:
    page = signed_in(browser, base, phone=False, scheme=scheme)
    expect(page.locator("#new-chat")).to_be_visible()
    page.wait_for_timeout(800)
    assert sidebar_open(page)
    page.screenshot(path=str(tmp_path / f"desktop-{scheme}.png"))
    page.context.close()
