"""Chat controls in Chromium: stop a streaming answer, regenerate, edit and resend, thumbs up/down with a comment.

Ratings are stored per user with the question, the answer and its citations, and come out of
``rag feedback export --json``. Desktop and phone (390×844, touch), light and dark.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("gradio")
from playwright.sync_api import Browser, Page, expect

import rag
from server.users import UserStore
from tests.browser import served
from tests.conftest import SEEDS
from tests.llm_servers import Reply, ScriptedServer, scripted_server
from tests.server_fixtures import running_server

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "rita-reads-a-lot"
BOT = "#chat [data-testid='bot']"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("controls")
    shutil.copytree(SEEDS, root / "docs")
    return root


@pytest.fixture(scope="module")
def accounts(root: Path) -> Iterator[str]:
    bot = rag.load(root / "docs", root / "index", progress=False)
    users = root / "users.json"
    UserStore(users).add("rita", "reader", PASSWORD)
    with running_server(bot, users) as url:
        yield url


def open_page(browser: Browser, url: str, *, phone: bool, scheme: str, sign_in: bool) -> Page:
    context = browser.new_context(
        viewport={"width": 390, "height": 844} if phone else {"width": 1400, "height": 1000},
        is_mobile=phone,
        has_touch=phone,
        color_scheme=scheme,  # type: ignore[arg-type]
    )
    page = context.new_page()
    page.goto(url, wait_until="load")
    if sign_in:
        page.locator("#username").fill("rita")
        page.locator("#password").fill(PASSWORD)
        page.locator("#sign-in").click()
    expect(page.locator("#question textarea")).to_be_visible(timeout=20_000)
    return page


def ask(page: Page, question: str) -> None:
    box = page.locator("#question textarea")
    box.fill(question)
    box.press("Enter")


def export(root: Path) -> list[dict[str, object]]:
    run = subprocess.run(
        [sys.executable, "-m", "rag.cli", "feedback", "export", "--json", "--users", str(root / "users.json")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"},
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    return list(json.loads(run.stdout))


@pytest.mark.parametrize(("phone", "scheme"), [(False, "light"), (True, "dark")])
def test_thumbs_down_with_a_comment_is_stored_and_exported(
    browser: Browser, accounts: str, root: Path, phone: bool, scheme: str, tmp_path: Path
) -> None:
    page = open_page(browser, accounts + "/", phone=phone, scheme=scheme, sign_in=True)
    question = f"How many tokens was Mi:dm trained on? ({scheme})"
    ask(page, question)
    answer = page.locator(BOT).last
    expect(answer).to_contain_text("trillion", timeout=20_000)
    page.locator("#chat button[aria-label='Dislike']").last.click()
    comment = page.locator("#rating-comment textarea")
    expect(comment).to_be_visible()
    comment.fill("It should also say when.")
    page.screenshot(path=str(tmp_path / f"rating-{scheme}.png"), full_page=True)
    comment.press("Enter")
    expect(comment).to_be_hidden()
    deadline = time.monotonic() + 10
    while True:
        items = [i for i in export(root) if i["question"] == question]
        if (items and items[-1]["comment"]) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert items, export(root)
    item = items[-1]
    assert item["rating"] == "down" and item["user"] == "rita" and item["comment"] == "It should also say when."
    assert "trillion" in str(item["answer"]) and item["citations"], item
    assert item["eval_item"] == {
        "id": f"feedback-{item['id']}",
        "question": question,
        "sources": ["001_a4f8977f78a39ff4.txt"],
    }
    page.context.close()


@pytest.mark.parametrize(("phone", "scheme"), [(False, "dark"), (True, "light")])
def test_regenerate_and_edit_and_resend(
    browser: Browser, accounts: str, phone: bool, scheme: str, tmp_path: Path
) -> None:
    page = open_page(browser, accounts + "/", phone=phone, scheme=scheme, sign_in=True)
    ask(page, "Where was the KT-Microsoft agreement signed?")
    expect(page.locator(BOT).last).to_contain_text("Redmond", timeout=20_000)
    page.locator("#chat button[aria-label='Retry']").last.click()
    expect(page.locator(BOT)).to_have_count(1, timeout=20_000)  # the answer again, not a second one
    expect(page.locator(BOT).last).to_contain_text("Redmond", timeout=20_000)
    user = page.locator("#chat [data-testid='user']").last
    user.hover()
    page.locator("#chat button[aria-label='Edit']").last.click()
    editor = page.locator("#chat textarea.edit-textarea").last
    editor.fill("How many tokens was Mi:dm trained on?")
    page.locator("#chat button[aria-label='Submit']").last.click()
    expect(page.locator(BOT).last).to_contain_text("trillion", timeout=20_000)
    expect(page.locator(BOT)).to_have_count(1)
    expect(page.locator("#chat [data-testid='user']").last).to_contain_text("Mi:dm")
    page.screenshot(path=str(tmp_path / f"edited-{scheme}.png"), full_page=True)
    page.context.close()


@pytest.fixture(scope="module")
def llm() -> Iterator[ScriptedServer]:
    with scripted_server() as server:
        yield server


def llm_bot(root: Path, llm: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> rag.Bot:
    """The seeds answered by the scripted OpenAI-compatible server ``llm``."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    return rag.load(
        root / "docs",
        root / "index",
        progress=False,
        answerer="openai",
        model="test-model",
        llm_base_url=f"{llm.url}/v1",
    )


def test_stop_ends_a_streaming_answer(
    browser: Browser, root: Path, llm: ScriptedServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bot = llm_bot(root, llm, monkeypatch)
    llm.script = [Reply("Satya Nadella signed it in Redmond. " * 40, chunk_delay_s=0.2)]
    with served(bot) as url:
        page = open_page(browser, url, phone=False, scheme="light", sign_in=False)
        ask(page, "Who signed the KT-Microsoft agreement?")
        streaming = page.locator(f"{BOT} .rag-streaming").last
        expect(streaming).to_contain_text("Nadella", timeout=20_000)
        stop = page.locator("#question button.stop-button")
        expect(stop).to_be_visible()
        stop.click()
        expect(page.locator("#question button.submit-button")).to_be_visible(timeout=10_000)
        expect(page.locator(BOT).last.locator(".rag-stopped")).to_contain_text("incomplete and was not saved")
        shown = page.locator(BOT).last.inner_text()
        page.wait_for_timeout(1500)
        assert page.locator(BOT).last.inner_text() == shown  # nothing more arrives
        assert shown.count("Nadella") < 40
        page.screenshot(path=str(tmp_path / "stopped.png"), full_page=True)
        page.context.close()


def test_a_draft_in_the_question_box_survives_a_streaming_answer_and_a_retry(
    browser: Browser, root: Path, llm: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each streamed update and the answer's last one used to set the box to "": a next question typed while
    # an answer streamed or finished (or before pressing Retry) was wiped without a trace.
    bot = llm_bot(root, llm, monkeypatch)
    llm.script = [
        Reply("Satya Nadella signed it in Redmond. " * 8, chunk_delay_s=0.1),
        Reply("Satya Nadella signed it in Redmond. [1]"),
    ]
    with served(bot) as url:
        page = open_page(browser, url, phone=False, scheme="light", sign_in=False)
        box = page.locator("#question textarea")
        ask(page, "Who signed the KT-Microsoft agreement?")
        expect(page.locator(f"{BOT} .rag-streaming").last).to_contain_text("Nadella", timeout=20_000)
        expect(box).to_have_value("")  # the question sent leaves the box
        box.fill("And when was it signed?")
        expect(page.locator("#question button.submit-button")).to_be_visible(timeout=20_000)  # answered
        expect(page.locator(f"{BOT} .rag-streaming")).to_have_count(0)
        expect(box).to_have_value("And when was it signed?")
        page.locator("#chat button[aria-label='Retry']").last.click()
        expect(page.locator(BOT).last).to_contain_text("Redmond", timeout=20_000)
        expect(page.locator("#question button.submit-button")).to_be_visible(timeout=20_000)
        page.wait_for_timeout(500)  # the retried answer's last update has come
        expect(box).to_have_value("And when was it signed?")
        page.context.close()
