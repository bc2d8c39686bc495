"""Answers and passages in the chat as what they are, in Chromium at desktop and phone widths, light and dark.

A Markdown guide with escapes, emphasis, hard line breaks, inline code and a fenced code block: the answer and
the evidence panel show prose reflowed, code monospaced with its line breaks, and no markup characters.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("gradio")
from playwright.sync_api import Browser, expect

import rag
from tests.browser import served

pytestmark = pytest.mark.browser

GUIDE = """# Relay guide

The \\_\\_relay\\_\\_ daemon restarts **every ninety days** and
reads its settings from `relay.toml` at start-up, before it
opens any port.

```toml
# the port, not a heading
port = 7431
bind = "0.0.0.0"
```

The relay writes its log to `/var/log/relay.log`.
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("rendering")
    (root / "docs").mkdir()
    (root / "docs" / "relay-guide.md").write_text(GUIDE, encoding="utf-8")
    bot = rag.load(root / "docs", root / "index", progress=False)
    with served(bot) as url:
        yield url


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [1400, 390])
def test_answer_and_evidence_render_prose_and_code(
    browser: Browser, server: str, width: int, scheme: str, tmp_path: Path
) -> None:
    phone = width < 768
    context = browser.new_context(
        viewport={"width": width, "height": 1000 if not phone else 844},
        is_mobile=phone,
        has_touch=phone,
        color_scheme=scheme,  # type: ignore[arg-type]
    )
    page = context.new_page()
    page.goto(server, wait_until="load")
    box = page.locator("#question textarea")
    expect(box).to_be_visible(timeout=20_000)
    box.fill("Where does the relay daemon read its settings from?")
    box.press("Enter")
    message = page.locator("#chat [data-testid='bot'] .rag-answer").first
    expect(message).to_be_visible(timeout=20_000)
    expect(message.locator("code").first).to_be_visible()
    shown = message.inner_text()
    for markup in ("\\_", "**", "`"):
        assert markup not in shown, shown
    passage = page.locator("#evidence .rag-passage-text").first
    expect(passage).to_be_visible()
    code = passage.locator("pre.rag-code")
    expect(code).to_have_count(1)
    assert code.inner_text().strip() == '# the port, not a heading\nport = 7431\nbind = "0.0.0.0"'
    font = code.evaluate("e => getComputedStyle(e).fontFamily").lower()
    assert "mono" in font or "courier" in font, font
    prose = passage.locator("p", has_text="daemon").first.inner_text()
    assert "__relay__ daemon restarts every ninety days and reads its settings from relay.toml" in prose, prose
    text = passage.inner_text()
    for markup in ("\\_", "**", "```", "`relay.toml`"):
        assert markup not in text, text
    if phone:
        assert page.evaluate("document.documentElement.scrollWidth") <= width + 1  # code scrolls, the page does not
    page.locator("#evidence").scroll_into_view_if_needed()
    page.screenshot(path=str(tmp_path / f"rendering-{width}-{scheme}.png"), full_page=True)
    context.close()
