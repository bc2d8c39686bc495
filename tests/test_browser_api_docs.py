"""The API pages in a real browser with the network cut off: /docs (Swagger UI) and /redoc (ReDoc).

Both load their scripts and styles from the installed ``fastapi-offline`` package through the server itself,
so every request the page makes goes to the server: any other is aborted and recorded, and the test fails
if there is one. Desktop and phone widths, light and dark.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("gradio")
from playwright.sync_api import Browser, Page, Route, expect

import rag
from tests.conftest import SEEDS
from tests.server_fixtures import running_server

pytestmark = pytest.mark.browser

SIZES = {"desktop": (1400, 1000), "phone": (390, 844)}


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("api-docs")
    shutil.copytree(SEEDS, root / "docs")
    bot = rag.load(root / "docs", root / "index", progress=False)
    with running_server(bot, None) as url:
        yield url


def offline_page(browser: Browser, base: str, size: str, scheme: str, blocked: list[str]) -> Page:
    width, height = SIZES[size]
    context = browser.new_context(
        viewport={"width": width, "height": height},
        color_scheme=scheme,  # type: ignore[arg-type]
        is_mobile=size == "phone",
        has_touch=size == "phone",
    )

    def only_the_server(route: Route) -> None:
        if route.request.url.startswith(base):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    context.route("**/*", only_the_server)
    return context.new_page()


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("size", list(SIZES))
def test_swagger_ui_renders_offline(browser: Browser, base: str, size: str, scheme: str, tmp_path: Path) -> None:
    blocked: list[str] = []
    page = offline_page(browser, base, size, scheme, blocked)
    page.goto(base + "/docs", wait_until="load")
    expect(page.locator(".swagger-ui .opblock-summary-path").filter(has_text="/api/ask").first).to_be_visible(
        timeout=20_000
    )
    expect(page.locator(".swagger-ui .title").first).to_contain_text("rag")
    page.screenshot(path=str(tmp_path / f"docs-{size}-{scheme}.png"), full_page=False)
    page.context.close()
    assert blocked == []


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("size", list(SIZES))
def test_redoc_renders_offline(browser: Browser, base: str, size: str, scheme: str, tmp_path: Path) -> None:
    blocked: list[str] = []
    page = offline_page(browser, base, size, scheme, blocked)
    page.goto(base + "/redoc", wait_until="load")
    expect(page.locator(".api-content h1").first).to_contain_text("rag", timeout=20_000)
    expect(page.get_by_text("/api/ask").first).to_be_attached()
    page.screenshot(path=str(tmp_path / f"redoc-{size}-{scheme}.png"), full_page=False)
    page.context.close()
    assert blocked == []
