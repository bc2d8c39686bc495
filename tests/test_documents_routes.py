"""The documents REST routes, mounted on a bare FastAPI app and called through a real uvicorn server."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

fastapi = pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")

import rag  # noqa: E402
from server.documents_routes import documents_router  # noqa: E402
from tests.conftest import ANALYSIS, SEEDS, SIGNING  # noqa: E402


def allow() -> None:
    return None


def deny() -> None:
    raise fastapi.HTTPException(status_code=403, detail="editors only")


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[str, rag.Bot]]:
    shutil.copytree(SEEDS, tmp_path / "docs")
    (tmp_path / "docs" / "sub").mkdir()
    (tmp_path / "docs" / "sub" / "notes.md").write_text("Ada Berg leads the Zorblat project.", encoding="utf-8")
    bot = rag.load(tmp_path / "docs", tmp_path / "index", progress=False)
    app = fastapi.FastAPI()
    app.include_router(documents_router(bot, allow, allow))
    locked = fastapi.FastAPI()
    locked.include_router(documents_router(bot, allow, deny))
    app.mount("/locked", locked)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}", bot
    server.should_exit = True
    thread.join(10)


def test_list_and_remove_documents_over_http(api: tuple[str, rag.Bot]) -> None:
    base, bot = api
    listed = httpx.get(f"{base}/api/documents").json()
    assert [d["name"] for d in listed] == [SIGNING, ANALYSIS, "sub/notes.md"]
    assert set(listed[0]) == {"name", "type", "size", "pages", "chunks", "indexed_at", "status", "reason"}
    assert listed[2]["type"] == "md" and listed[2]["status"] == "indexed" and listed[2]["chunks"] == 1

    refused = httpx.delete(f"{base}/locked/api/documents/sub/notes.md")
    assert refused.status_code == 403 and "sub/notes.md" in bot.documents  # the editor dependency guards it

    removed = httpx.delete(f"{base}/api/documents/sub/notes.md")
    assert removed.status_code == 200 and removed.json()["removed"] == ["sub/notes.md"]
    assert "sub/notes.md" not in bot.documents and not (bot.settings.docs_dir / "sub" / "notes.md").exists()
    assert "sub/notes.md" not in {c.source for c in bot.ask("Who leads the Zorblat project?").citations}
    assert [d["name"] for d in httpx.get(f"{base}/api/documents").json()] == [SIGNING, ANALYSIS]

    missing = httpx.delete(f"{base}/api/documents/nope.md")
    assert missing.status_code == 404 and "nope.md" in missing.json()["detail"]
