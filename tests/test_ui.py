"""The web chat in a real browser (Debian's Chromium driven by Playwright) and through gradio_client."""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

gr = pytest.importorskip("gradio")
from gradio_client import Client  # noqa: E402
from playwright.sync_api import Browser, Page, expect  # noqa: E402

import rag  # noqa: E402
from tests.browser import served  # noqa: E402
from tests.conftest import ANSWER_FIELDS, SEEDS, SIGNING  # noqa: E402
from ui.app import build_app  # noqa: E402

pytestmark = pytest.mark.browser

XSS_DOC = (
    "The Quuxtron gadget was designed by <script>window.__pwned = 1</script> Professor Blip in 1999. "
    'Its blueprint <img src=x onerror="window.__pwned = 2"> was lost in a flood.'
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("ui")
    shutil.copytree(SEEDS, root / "docs")
    (root / "docs" / "quuxtron.md").write_text(XSS_DOC, encoding="utf-8")
    bot = rag.load(root / "docs", root / "index", progress=False)
    with served(bot) as url:
        yield url


@pytest.fixture
def page(browser: Browser, server: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    outside: list[str] = []
    page.on(
        "request", lambda r: None if r.url.startswith(("http://127.0.0.1", "data:", "blob:")) else outside.append(r.url)
    )
    page.goto(server, wait_until="load")
    expect(page.locator("#question textarea")).to_be_visible(timeout=20_000)
    yield page
    page.screenshot(path=str(tmp_path / f"{request.node.name}.png"), full_page=True)
    context.close()
    assert outside == [], f"the page made requests off the machine: {outside}"


def ask(page: Page, question: str) -> None:
    box = page.locator("#question textarea")
    box.fill(question)
    box.press("Enter")


def last_bot_message(page: Page):  # type: ignore[no-untyped-def]
    return page.locator("#chat [data-testid='bot']").last


def test_streamed_answer_with_citation_opens_the_highlighted_passage(page: Page) -> None:
    ask(page, "Who signed the KT-Microsoft agreement, and where?")
    message = last_bot_message(page)
    expect(message).to_contain_text("Nadella", timeout=20_000)
    expect(message.locator("a.rag-cite").first).to_have_text("[1]", timeout=20_000)
    passage = page.locator("#rag-passage-1")
    expect(passage).to_contain_text(SIGNING)
    expect(passage.locator("mark").first).to_contain_text("signed the agreement")
    message.locator("a.rag-cite").first.click()
    expect(passage).to_be_in_viewport()


def test_off_topic_question_is_shown_as_a_refusal(page: Page) -> None:
    ask(page, "What is the capital of France?")
    message = last_bot_message(page)
    expect(message.locator(".rag-refusal")).to_contain_text("couldn't find", timeout=20_000)
    expect(page.locator("#evidence")).to_contain_text("No passage answers this question")


def test_too_long_and_empty_messages_get_clear_messages(page: Page) -> None:
    ask(page, "why " * 1200)
    expect(last_bot_message(page).locator(".rag-error")).to_contain_text("the limit is 4,000", timeout=20_000)
    page.locator("#question textarea").fill("   ")
    page.locator("#question textarea").press("Enter")
    expect(page.get_by_text("Type a question about the documents first.")).to_be_visible(timeout=10_000)


def test_document_markup_is_shown_as_text_and_never_runs(page: Page) -> None:
    ask(page, "Who designed the Quuxtron gadget?")
    message = last_bot_message(page)
    expect(message).to_contain_text("Blip", timeout=20_000)
    expect(page.locator("#evidence")).to_contain_text("<script>")
    assert page.evaluate("window.__pwned") is None
    assert page.locator("#evidence img, #chat img[src='x']").count() == 0


def test_uploading_a_file_makes_it_citable(page: Page, tmp_path: Path) -> None:
    note = tmp_path / "zorblat.md"
    note.write_text("Zorblat Corp was founded in Oslo in 1987 by the engineer Ada Berg.", encoding="utf-8")
    page.get_by_text("Add documents").click()
    page.locator("input[type='file']").set_input_files(str(note))
    expect(page.locator("#upload-status")).to_contain_text("Added uploads/zorblat.md", timeout=60_000)
    ask(page, "Where was Zorblat Corp founded?")
    expect(last_bot_message(page)).to_contain_text("Oslo", timeout=20_000)
    expect(page.locator("#rag-passage-1")).to_contain_text("uploads/zorblat.md")


def test_binary_upload_is_refused_and_changes_nothing(page: Page, tmp_path: Path) -> None:
    blob = tmp_path / "photo.txt"
    blob.write_bytes(b"\x89PNG\r\n\x00\x00\x00binary")
    page.get_by_text("Add documents").click()
    page.locator("input[type='file']").set_input_files(str(blob))
    expect(page.locator("#upload-status")).to_contain_text("Nothing was added", timeout=30_000)
    expect(page.locator("#upload-status")).to_contain_text("binary")


def test_the_chat_answers_as_many_questions_at_once_as_configured(tmp_path: Path) -> None:
    shutil.copytree(SEEDS, tmp_path / "docs")
    bot = rag.load(tmp_path / "docs", tmp_path / "index", progress=False, chat_concurrency=7)
    demo = build_app(bot)
    # Gradio has no public getter for it; the queue's default limit applies to the chat's events.
    assert demo._queue.default_concurrency_limit == 7


def test_ask_endpoint_returns_the_cli_json(server: str) -> None:
    client = Client(server, verbose=False)
    data = client.predict("When will KT reveal specifics of the partnership?", api_name="/ask")
    assert set(data) == set(ANSWER_FIELDS)
    assert "September" in data["answer"] and data["citations"][0]["n"] == 1
    with pytest.raises(Exception, match="empty"):
        client.predict("   ", api_name="/ask")


def test_ask_endpoint_answers_a_plain_json_post(server: str) -> None:
    # /ask is not queued: one POST, one JSON reply (what curl users and the load benchmark use).
    reply = httpx.post(f"{server}gradio_api/run/ask", json={"data": ["Who signed the agreement?"]}, timeout=30)
    assert reply.status_code == 200
    answer = reply.json()["data"][0]
    assert answer["backend"] == "extractive" and answer["citations"] and not answer["refused"]
    bad = httpx.post(f"{server}gradio_api/run/ask", json={"data": [""]}, timeout=30)
    assert bad.status_code == 500 and "empty" in bad.json()["error"]


def choose_backend(page: Page, name: str) -> None:
    # Settings offers only the backends that can answer when the page loads: load it again to see a new one.
    page.reload(wait_until="load")
    expect(page.locator("#question textarea")).to_be_visible(timeout=20_000)
    page.get_by_text("Settings").click()
    page.locator("#answerer input").click()
    page.get_by_role("option", name=name, exact=True).click()


def test_llm_answer_streams_and_unsupported_sentences_are_flagged(page: Page, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.llm_servers import Reply, scripted_server

    with scripted_server() as llm:
        monkeypatch.setenv("OLLAMA_HOST", llm.url)
        llm.script = [
            Reply(
                "KT and Microsoft will reveal details in September [1]. They will also open a moon base [1].",
                chunk_delay_s=0.05,
            )
        ]
        choose_backend(page, "ollama: llama3.2")
        ask(page, "When will KT and Microsoft reveal details?")
        message = last_bot_message(page)
        expect(message).to_contain_text("moon base", timeout=20_000)
        expect(message.locator("a.rag-cite").first).to_have_text("[1]")
        expect(page.locator("#evidence .rag-unsupported")).to_contain_text("moon base")


def test_unreachable_backend_falls_back_with_a_visible_notice(page: Page, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    from tests.llm_servers import scripted_server

    with scripted_server() as llm:  # Ollama answers when the page loads, so Settings offers it...
        monkeypatch.setenv("OLLAMA_HOST", llm.url)
        choose_backend(page, "ollama: llama3.2")
    monkeypatch.setenv("OLLAMA_HOST", f"http://127.0.0.1:{port}")  # ...and is gone when the question comes
    page.locator("#answerer").locator("..").get_by_label("LLM model").fill("llama3.2-unreachable")
    ask(page, "Who signed the KT-Microsoft agreement, and where?")
    message = last_bot_message(page)
    expect(message.locator(".rag-notice")).to_contain_text("unreachable; showing extracted passages", timeout=30_000)
    expect(message).to_contain_text("Nadella")


def test_follow_up_shows_the_question_it_searched_for(page: Page) -> None:
    ask(page, "What did KT and Microsoft sign?")
    expect(last_bot_message(page).locator("a.rag-cite").first).to_be_visible(timeout=20_000)
    ask(page, "and when will they reveal the specifics?")
    message = last_bot_message(page)
    expect(message.locator(".rag-rewrite")).to_contain_text("Searched for:", timeout=20_000)
    expect(message).to_contain_text("September")
