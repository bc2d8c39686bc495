"""The web chat over real formats, in a real browser: a PDF citation shows its page, section and the page image."""

from __future__ import annotations

import base64
import io
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

gr = pytest.importorskip("gradio")
from playwright.sync_api import Browser, Page, expect  # noqa: E402

import rag  # noqa: E402
from tests.browser import served  # noqa: E402
from tests.test_ui import ask, last_bot_message  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "evals"))
import make_docs  # noqa: E402

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("ui-documents")
    make_docs.write_all(root / "docs")
    bot = rag.load(root / "docs", root / "index", progress=False)
    with served(bot) as url:
        yield url


@pytest.fixture
def page(browser: Browser, server: str) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(server, wait_until="load")
    expect(page.locator("#question textarea")).to_be_visible(timeout=20_000)
    yield page
    context.close()


def yellow_pixels(png: bytes) -> int:
    import numpy as np
    from PIL import Image

    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    red, blue = rgb[..., 0], rgb[..., 2]
    return int(((red > 200) & (red - blue > 60)).sum())  # white paper and black text are neither


def test_a_pdf_citation_shows_its_page_section_and_highlighted_page(page: Page) -> None:
    ask(page, "What does error code E42 mean?")
    expect(last_bot_message(page)).to_contain_text("TLS certificate", timeout=20_000)
    passage = page.locator("#rag-passage-1")
    expect(passage.locator(".rag-source")).to_have_text("lantern-manual.pdf")
    expect(passage.locator(".rag-page-number")).to_have_text("p. 4 (printed 3)")
    expect(passage.locator(".rag-section")).to_have_text("§3 Troubleshooting")
    image = passage.locator("img.rag-page-image")
    expect(image).to_be_hidden()  # closed until asked for
    passage.locator(".rag-page summary").click()
    expect(image).to_be_visible()
    assert page.evaluate("img => img.naturalWidth", image.element_handle()) > 500
    png = base64.b64decode(str(image.get_attribute("src")).split(",", 1)[1])
    # The cited sentence (two lines of a column, about 260 x 25 px) is highlighted, and nothing else.
    assert 2_000 < yellow_pixels(png) < 20_000


def test_a_word_citation_shows_its_section_and_no_page(page: Page) -> None:
    ask(page, "How long does a full charge of the Beacon handset take?")
    expect(last_bot_message(page)).to_contain_text("95 minutes", timeout=20_000)
    passage = page.locator("#rag-passage-1")
    expect(passage.locator(".rag-section")).to_have_text("§ Charging")
    assert passage.locator(".rag-page-number, img.rag-page-image").count() == 0


def test_uploading_an_encrypted_pdf_says_why_nothing_was_added(page: Page, tmp_path: Path) -> None:
    make_docs.write_bad_pdfs(tmp_path)
    page.get_by_text("Add documents").click()
    page.locator("input[type='file']").set_input_files(str(tmp_path / "locked.pdf"))
    status = page.locator("#upload-status")
    expect(status).to_contain_text("Nothing was added", timeout=30_000)
    expect(status).to_contain_text("locked.pdf: encrypted PDF")


@pytest.mark.parametrize(("width", "scheme"), [(1400, "light"), (390, "dark")])
def test_a_pdf_page_image_opens_as_large_as_the_window(
    browser: Browser, server: str, width: int, scheme: str, tmp_path: Path
) -> None:
    context = browser.new_context(
        viewport={"width": width, "height": 1000 if width > 768 else 844},
        is_mobile=width < 768,
        has_touch=width < 768,
        color_scheme=scheme,  # type: ignore[arg-type]
    )
    page = context.new_page()
    page.goto(server, wait_until="load")
    expect(page.locator("#question textarea")).to_be_visible(timeout=20_000)
    ask(page, "What does error code E42 mean?")
    expect(last_bot_message(page)).to_contain_text("TLS certificate", timeout=20_000)
    passage = page.locator("#rag-passage-1")
    passage.locator(".rag-page summary").click()
    image = passage.locator("img.rag-page-image")
    expect(image).to_be_visible()
    small = image.bounding_box()
    image.click()
    expect(image).to_have_class(re.compile(r"rag-zoomed"))
    large = image.bounding_box()
    assert small and large and large["width"] >= width - 1 and large["height"] > small["height"], (small, large)
    page.screenshot(path=str(tmp_path / f"page-zoomed-{width}-{scheme}.png"))
    page.keyboard.press("Escape")
    expect(image).not_to_have_class(re.compile(r"rag-zoomed"))
    context.close()
