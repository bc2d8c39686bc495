"""The live corpus in the chat: the Documents view and picker in a real browser, and a real `rag serve`
following its docs folder (add, edit, remove, ask)."""

from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

gr = pytest.importorskip("gradio")
from playwright.sync_api import Browser, Page, expect  # noqa: E402

import rag  # noqa: E402
from rag.indexing.watch import DocsWatcher  # noqa: E402
from tests.browser import free_port  # noqa: E402
from tests.conftest import SEEDS  # noqa: E402
from ui.app import EXAMPLES, build_app, launch  # noqa: E402
from ui.examples import corpus_examples  # noqa: E402

NOTES = "notes.md"
NOTES_TEXT = "Zorblat notes.\n\nAda Berg leads the Zorblat project in Oslo. The project ships in March.\n"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, rag.Bot]]:
    root = tmp_path_factory.mktemp("ui-docs")
    shutil.copytree(SEEDS, root / "docs")
    (root / "docs" / NOTES).write_text(NOTES_TEXT, encoding="utf-8")
    bot = rag.load(root / "docs", root / "index", progress=False)
    demo = build_app(bot)
    port = free_port()
    launch(demo, "127.0.0.1", port, block=False)
    yield f"http://127.0.0.1:{port}/", bot
    demo.close()


@pytest.fixture
def page(browser: Browser, served: tuple[str, rag.Bot]) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(served[0], wait_until="load")
    expect(page.locator("#question textarea")).to_be_visible(timeout=20_000)
    yield page
    context.close()


def choose(page: Page, dropdown: str, option: str) -> None:
    page.locator(f"{dropdown} input").click()
    page.get_by_role("option", name=option, exact=True).click()
    page.keyboard.press("Escape")


@pytest.mark.browser
def test_documents_view_picker_and_remove(page: Page, served: tuple[str, rag.Bot]) -> None:
    _, bot = served
    header = page.locator("#header")
    expect(header).to_contain_text("Answering from 3 documents")
    expect(header).not_to_contain_text("000_9e8dd42f31235db3.txt")  # a count, not every name

    # The picker scopes a question: asked about KT, but only the notes may answer.
    choose(page, "#doc-picker", NOTES)
    page.locator("#question textarea").fill("Who signed the KT-Microsoft agreement, and where?")
    page.locator("#question textarea").press("Enter")
    # The notes do not say, so it refuses; the closest passages shown are the notes' alone.
    expect(page.locator("#evidence")).to_contain_text(NOTES, timeout=30_000)
    expect(page.locator("#evidence")).not_to_contain_text("000_9e8dd42f31235db3.txt")

    page.get_by_text("Documents (3)").click()
    table = page.locator("#doc-table")
    expect(table).to_contain_text(NOTES)
    expect(table).to_contain_text("indexed")
    page.locator("#doc-search textarea, #doc-search input").first.fill("notes")
    expect(table).not_to_contain_text("000_9e8dd42f31235db3.txt")
    expect(table).to_contain_text(NOTES)

    choose(page, "#doc-chosen", NOTES)
    page.locator("#doc-remove").click()
    expect(page.locator("#doc-status")).to_contain_text(f"Removed {NOTES}", timeout=60_000)
    expect(table).not_to_contain_text(NOTES)
    assert not (bot.settings.docs_dir / NOTES).exists()
    assert NOTES not in bot.documents
    page.locator("#question textarea").fill("Who leads the Zorblat project?")
    page.locator("#question textarea").press("Enter")
    expect(page.locator("#chat [data-testid='bot']").last).not_to_have_text("", timeout=30_000)
    expect(page.locator("#evidence")).not_to_contain_text(NOTES)


def test_examples_fit_the_corpus(seed_bot: rag.Bot, tmp_path: Path) -> None:
    assert corpus_examples(seed_bot, EXAMPLES) == EXAMPLES
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "recipes.md").write_text("Bake the bread for forty minutes at 220 degrees.", encoding="utf-8")
    other = rag.load(tmp_path / "docs", tmp_path / "index", progress=False)
    assert corpus_examples(other, EXAMPLES) == []
    configured = other.settings.replace(examples="How long is the bread baked? | At what temperature?")
    other.settings = configured
    assert corpus_examples(other, EXAMPLES) == ["How long is the bread baked?", "At what temperature?"]
    listed = tmp_path / "examples.txt"
    listed.write_text("# one question a line\nHow long is the bread baked?\n\n", encoding="utf-8")
    other.settings = configured.replace(examples=str(listed))
    assert corpus_examples(other, EXAMPLES) == ["How long is the bread baked?"]


# ------------------------------------------------------------------------------ a real server following its folder


def _ask(base: str, question: str) -> dict[str, Any]:
    reply = httpx.post(f"{base}gradio_api/run/ask", json={"data": [question]}, timeout=30)
    reply.raise_for_status()
    answer: dict[str, Any] = reply.json()["data"][0]
    return answer


def _wait_for(base: str, question: str, test: Any, limit_s: float = 10.0) -> tuple[float, dict[str, Any]]:
    started = time.monotonic()
    while True:
        answer = _ask(base, question)
        if test(answer):
            return time.monotonic() - started, answer
        if time.monotonic() - started > limit_s:
            pytest.fail(f"not within {limit_s} s: {answer}")
        time.sleep(0.2)


@pytest.fixture
def rag_serve(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    docs = tmp_path / "docs"
    shutil.copytree(SEEDS, docs)
    port = free_port()
    # The test asks every 0.2 s while it waits: over the default 30 questions a minute a user may ask.
    env = {**os.environ, "RAG_DOCS": str(docs), "RAG_INDEX": str(tmp_path / "index"), "RAG_CHAT_RATE_LIMIT": "0"}
    log = open(tmp_path / "serve.log", "w")  # noqa: SIM115
    server = subprocess.Popen(
        [sys.executable, "-m", "rag.cli", "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert server.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(base, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        yield base, docs
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


@pytest.mark.slow
def test_a_running_server_follows_its_docs_folder(rag_serve: tuple[str, Path]) -> None:
    base, docs = rag_serve
    question = "Who leads the Zorblat project?"
    assert NOTES not in {c["source"] for c in _ask(base, question)["citations"]}

    (docs / NOTES).write_text(NOTES_TEXT, encoding="utf-8")  # add
    _, answer = _wait_for(base, question, lambda a: any(c["source"] == NOTES for c in a["citations"]))
    assert "Ada Berg" in answer["answer"]

    (docs / NOTES).write_text(NOTES_TEXT.replace("Ada Berg", "Cleo Dunn"), encoding="utf-8")  # edit
    _, answer = _wait_for(base, question, lambda a: "Cleo Dunn" in a["answer"])

    (docs / NOTES).write_bytes(b"Zorblat \xff\xfe half-written")  # an edit that cannot be read
    time.sleep(3)
    assert "Cleo Dunn" in _ask(base, question)["answer"]  # the previous version is still searchable

    (docs / NOTES).unlink()  # remove
    _wait_for(base, question, lambda a: NOTES not in {c["source"] for c in a["citations"]})
    for _ in range(5):
        assert NOTES not in {c["source"] for c in _ask(base, question)["citations"]}


def test_a_watcher_keeps_answering_and_reports_a_failed_refresh(tmp_path: Path) -> None:
    shutil.copytree(SEEDS, tmp_path / "docs")
    bot = rag.load(tmp_path / "docs", tmp_path / "index", progress=False)
    with DocsWatcher(bot, poll_s=0.2) as watcher:
        (tmp_path / "docs" / NOTES).write_text(NOTES_TEXT, encoding="utf-8")
        deadline = time.monotonic() + 30
        while NOTES not in bot.documents and time.monotonic() < deadline:
            time.sleep(0.1)
        assert NOTES in bot.documents and watcher.mode == "polling"
        shutil.rmtree(tmp_path / "docs")  # the folder vanishes: the previous index stays in use
        deadline = time.monotonic() + 30
        while watcher.last_error is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert watcher.last_error is not None and "previous index is still in use" in watcher.last_error
        assert bot.ask(question="Who leads the Zorblat project?").citations[0].source == NOTES


def test_the_upload_progress_moves_at_least_once_a_second(tmp_path: Path) -> None:
    from ui.uploads import with_progress as _with_progress

    shutil.copytree(SEEDS, tmp_path / "docs")
    bot = rag.load(tmp_path / "docs", tmp_path / "index", progress=False)
    text = "\n\n".join(
        f"Paragraph {n} says the {n}th lantern of the harbor burns copper green. " * 6 for n in range(600)
    )
    shown: list[tuple[float, float, str]] = []
    report = _with_progress(
        lambda callback: bot.add_documents(
            [rag.Document.from_text("uploads/long.md", text)], overwrite=True, progress=callback
        ),
        lambda fraction, desc: shown.append((time.monotonic(), fraction, desc)),
    )
    assert report.added == ["uploads/long.md"] and report.embedded_chunks >= 150
    times = [t for t, _, _ in shown]
    assert times[-1] - times[0] > 2 and max(b - a for a, b in itertools.pairwise(times)) < 1.0
    fractions = [f for _, f, _ in shown]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(set(fractions)) > 3
    assert re.search(r"Indexing: \d+/1 files, \d+/\d+ chunks, [\d.]+ chunks/s", shown[len(shown) // 2][2])


@pytest.mark.browser
def test_an_upload_shows_progress_and_can_be_cancelled(page: Page, served: tuple[str, rag.Bot], tmp_path: Path) -> None:
    _, bot = served
    paths = []
    for n in range(3):
        path = tmp_path / f"bulk-{n}.md"
        path.write_text(
            "\n\n".join(f"Bulk {n}, paragraph {p}: the harbor lantern burns copper green. " * 8 for p in range(40)),
            encoding="utf-8",
        )
        paths.append(str(path))
    page.get_by_text("Add documents").click()
    page.locator("input[type='file']").set_input_files(paths)
    expect(page.get_by_text(re.compile(r"chunks/s")).first).to_be_visible(timeout=60_000)  # the bar moves
    page.locator("#upload-cancel").click()
    status = page.locator("#upload-status")
    expect(status).to_contain_text("Indexing cancelled", timeout=60_000)
    expect(status).to_contain_text("Not added")
    uploaded = {f"uploads/{p.name}" for p in (bot.settings.docs_dir / "uploads").glob("bulk-*.md")}
    indexed = {name for name in bot.documents if name.startswith("uploads/bulk-")}
    assert uploaded == indexed and len(indexed) < 3  # what was indexed stays; the rest was not added
