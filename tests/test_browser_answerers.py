"""Honest model choice, in Chromium: Settings offers only the backends that can answer now, with their model.

Without a key or a server only ``extractive`` is offered (no ``llamacpp`` or ``openai`` that would fail);
with an Ollama server answering, ``ollama: llama3.2`` appears; "List models" lists its installed models and
an OpenAI-compatible server's, and picking one fills the model box. Desktop and phone, light and dark.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("gradio")
from playwright.sync_api import Browser, Page, expect

import rag
from rag.answer.backends import TEST_MODEL_NOTE, Backend, available_backends
from tests.browser import served
from tests.conftest import SEEDS
from tests.llm_servers import ScriptedServer, scripted_server

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("answerers")
    shutil.copytree(SEEDS, root / "docs")
    bot = rag.load(root / "docs", root / "index", progress=False)
    with served(bot) as url:
        yield url


@pytest.fixture
def llm() -> Iterator[ScriptedServer]:
    with scripted_server() as server:
        yield server


def options(browser: Browser, url: str, *, phone: bool, scheme: str, tmp_path: Path) -> tuple[Page, list[str]]:
    context = browser.new_context(
        viewport={"width": 390, "height": 844} if phone else {"width": 1400, "height": 1000},
        is_mobile=phone,
        has_touch=phone,
        color_scheme=scheme,  # type: ignore[arg-type]
    )
    page = context.new_page()
    page.goto(url, wait_until="load")
    expect(page.locator("#question textarea")).to_be_visible(timeout=20_000)
    page.get_by_text("Settings").click()
    page.locator("#answerer input").click()
    expect(page.get_by_role("option").first).to_be_visible()
    shown = [t.replace("✓", "").strip() for t in page.get_by_role("option").all_inner_texts()]
    page.screenshot(path=str(tmp_path / f"answerers-{'phone' if phone else 'desktop'}-{scheme}.png"))
    page.keyboard.press("Escape")
    return page, shown


def test_backends_that_cannot_answer_are_not_offered(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "AZURE_OPENAI_API_KEY", "RAG_LLAMACPP_MODEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OLLAMA_HOST", "http://127.0.0.1:9")  # nothing listens there
    assert available_backends(rag.Settings()) == [Backend("extractive")]
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert Backend("openai", "gpt-4o-mini") in available_backends(rag.Settings())
    assert Backend("llamacpp", "/m/SmolLM2.gguf", TEST_MODEL_NOTE).label == (
        "llamacpp: /m/SmolLM2.gguf (test model, about 35 s per answer)"
    )


@pytest.mark.parametrize(("phone", "scheme"), [(False, "light"), (False, "dark"), (True, "light"), (True, "dark")])
def test_settings_offers_what_can_answer_and_lists_installed_models(
    browser: Browser,
    server: str,
    llm: ScriptedServer,
    monkeypatch: pytest.MonkeyPatch,
    phone: bool,
    scheme: str,
    tmp_path: Path,
) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "AZURE_OPENAI_API_KEY", "RAG_LLAMACPP_MODEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OLLAMA_HOST", "http://127.0.0.1:9")
    page, shown = options(browser, server, phone=phone, scheme=scheme, tmp_path=tmp_path)
    assert shown == ["extractive"], shown  # no llamacpp, openai or ollama that would fail
    page.context.close()
    monkeypatch.setenv("OLLAMA_HOST", llm.url)
    monkeypatch.setenv("OPENAI_BASE_URL", f"{llm.url}/v1")
    page, shown = options(browser, server, phone=phone, scheme=scheme, tmp_path=tmp_path)
    assert shown == ["extractive", "openai: gpt-4o-mini", "ollama: llama3.2"], shown
    page.locator("#list-models").click()
    page.locator("#installed-models input").click()
    expect(page.get_by_role("option", name="llama3.2:latest")).to_be_visible()
    expect(page.get_by_role("option", name="test-model")).to_be_visible()
    page.get_by_role("option", name="llama3.2:latest").click()
    expect(page.locator("#model textarea, #model input").first).to_have_value("llama3.2:latest")
    page.screenshot(path=str(tmp_path / f"models-{'phone' if phone else 'desktop'}-{scheme}.png"), full_page=True)
    page.context.close()
