"""The chat page on real use, in Chromium: evidence that scrolls, old answers' citations, dark mode, mobile."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("gradio")
from playwright.sync_api import Browser, Page, expect

import rag
from tests.browser import served
from tests.conftest import SEEDS

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("ui-polish")
    shutil.copytree(SEEDS, root / "docs")
    bot = rag.load(root / "docs", root / "index", progress=False)
    with served(bot) as url:
        yield url


def open_page(browser: Browser, url: str, width: int = 1400, height: int = 1000) -> Page:
    page = browser.new_context(viewport={"width": width, "height": height}).new_page()
    page.goto(url, wait_until="load")
    expect(page.locator("#question textarea")).to_be_visible(timeout=20_000)
    return page


def ask(page: Page, question: str) -> Any:
    # Counted before asking: the answer's message can appear before a count taken after Enter, which then
    # points past it and waits for a message that never comes.
    count = page.locator("#chat [data-testid='bot']").count()
    box = page.locator("#question textarea")
    box.fill(question)
    box.press("Enter")
    message = page.locator("#chat [data-testid='bot']").nth(count)
    expect(message.locator(".rag-answer, .rag-refusal").first).to_be_visible(timeout=20_000)
    return message


def test_the_evidence_panel_scrolls_instead_of_running_under_the_panels_below(browser: Browser, server: str) -> None:
    page = open_page(browser, server)
    ask(page, "What is the capital of France?")  # a refusal lists the three closest passages: a tall panel
    evidence = page.locator("#evidence")
    expect(evidence).to_contain_text("No passage answers this question")
    sizes = evidence.evaluate("e => [e.scrollHeight, e.clientHeight, getComputedStyle(e).overflowY]")
    assert sizes[0] > sizes[1], f"the panel's content is not taller than the panel: {sizes}"
    assert sizes[2] in {"auto", "scroll"}, sizes
    panel = evidence.bounding_box()
    below = page.get_by_text("Settings").first.bounding_box()
    last = page.locator("#evidence .rag-passage").last.bounding_box()
    assert panel and below and last
    assert panel["y"] + panel["height"] <= below["y"] + 1, (panel, below)  # nothing runs under Settings
    assert panel["height"] <= 642, panel
    page.context.close()


def test_an_older_answers_citation_brings_up_that_answers_passage(browser: Browser, server: str) -> None:
    page = open_page(browser, server)
    first = ask(page, "How many tokens was Mi:dm trained on?")
    second = ask(page, "Where was the KT-Microsoft agreement signed?")
    expect(page.locator("#evidence")).to_contain_text("Redmond")
    first.locator("a.rag-cite").first.click()
    flashed = page.locator(".rag-flash")
    expect(flashed).to_have_count(1)
    expect(flashed).to_contain_text("trillion")  # the first answer's passage, not the newest answer's [1]
    expect(flashed).to_be_in_viewport()
    # The newest answer's [1] still brings up its own passage in the evidence panel.
    page.wait_for_timeout(1600)
    second.locator("a.rag-cite").first.click()
    expect(page.locator("#evidence .rag-flash")).to_contain_text("Redmond")
    page.context.close()


def _contrast(color: str, background: str) -> float:
    def luminance(css: str) -> float:
        parts = [float(x) for x in css[css.index("(") + 1 : css.index(")")].replace("/", ",").split(",")[:3]]
        channels = [c / 255 for c in parts]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    high, low = sorted([luminance(color), luminance(background)], reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_highlighted_sentences_are_readable_in_both_themes(browser: Browser, server: str, theme: str) -> None:
    page = open_page(browser, f"{server}?__theme={theme}")
    ask(page, "Where was the KT-Microsoft agreement signed?")
    mark = page.locator("#evidence mark").first
    expect(mark).to_be_visible()
    color, background = mark.evaluate("m => [getComputedStyle(m).color, getComputedStyle(m).backgroundColor]")
    assert _contrast(color, background) >= 4.5, (theme, color, background)
    page.context.close()


def test_a_new_upload_replaces_the_old_status(browser: Browser, server: str, tmp_path: Path) -> None:
    page = open_page(browser, server)
    page.get_by_text("Add documents").click()
    blob = tmp_path / "photo.txt"
    blob.write_bytes(b"\x89PNG\r\n\x00\x00\x00binary")
    page.locator("input[type='file']").set_input_files(str(blob))
    status = page.locator("#upload-status")
    expect(status).to_contain_text("Nothing was added", timeout=30_000)
    # Record every text the status shows from now on.
    status.evaluate(
        """e => { window.__statuses = [];
        new MutationObserver(() => window.__statuses.push(e.innerText.trim()))
          .observe(e, {subtree: true, childList: true, characterData: true}); }"""
    )
    note = tmp_path / "gadget.md"
    note.write_text("The Quuxtron gadget was designed by Professor Blip in 1999.", encoding="utf-8")
    page.locator("input[type='file']").set_input_files(str(note))
    expect(status).to_contain_text("Added uploads/gadget.md", timeout=60_000)
    expect(status).not_to_contain_text("Nothing was added")
    statuses = page.evaluate("window.__statuses")
    # The old result is cleared as soon as the new upload starts, never shown beside or under the new one.
    shown_before = statuses[: next(i for i, text in enumerate(statuses) if "Added" in text)]
    assert shown_before and "Nothing was added" not in shown_before[-1], statuses
    assert not any("Nothing was added" in text and "Added uploads" in text for text in statuses), statuses
    page.context.close()


def test_on_a_phone_each_answer_reaches_its_passages(browser: Browser, server: str) -> None:
    page = open_page(browser, server, width=390, height=844)
    first = ask(page, "How many tokens was Mi:dm trained on?")
    ask(page, "Where was the KT-Microsoft agreement signed?")
    first.locator("a.rag-cite").first.click()
    flashed = page.locator(".rag-flash")
    expect(flashed).to_contain_text("trillion")
    expect(flashed).to_be_in_viewport()
    box = flashed.bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= 391, box  # no sideways scrolling needed
    page.context.close()
