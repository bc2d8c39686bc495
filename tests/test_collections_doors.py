"""Collections through every door of a real ``rag serve`` app, for both index backends (FAISS and Postgres).

Two users and two collections: ``hr`` holds a unique fact (and a PDF) and is granted to the group ``hr``;
``ann`` is in it, ``bob`` is not (``eve`` is an editor outside it). For each door the member gets a cited
answer, and every attempt of the outsider returns nothing of ``hr``: by its name, through ``default``, by a
guessed document name, by path traversal in names, by the member's conversation id. A collection the
outsider may not read answers exactly as one that does not exist.
"""

from __future__ import annotations

import json
import shutil
import statistics
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

pytest.importorskip("gradio")

import openai
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

import rag
from rag.bot.registry import Registry
from rag.config import Settings
from server.audit import AuditLog
from server.conversations import ConversationStore
from server.db import Database
from server.paths import data_paths
from server.users import UserStore
from tests.server_fixtures import running_server

ROOT = Path(__file__).resolve().parent.parent
FACT = "Quillfeather employees receive exactly 23 weeks of parental leave, approved by the Zephyrine committee."
QUESTION = "How many weeks of parental leave do Quillfeather employees receive?"
SECRET = "leave.txt"
PDF = "lantern-manual.pdf"
# Names an outsider may try for hr's documents and collection: the plain ones, and ways around a check.
COLLECTION_TRIES = ["hr", "HR", "hr/", "../hr", "./hr", "default/../hr", "collections/hr", "hr\x00", "rag__hr", "h%72"]
DOCUMENT_TRIES = [
    SECRET,
    f"../hr/{SECRET}",
    f"collections/hr/{SECRET}",
    f"..%2Fhr%2F{SECRET}",
    f"/{SECRET}",
    "../../../etc/passwd",
    "../users.json",
    PDF,
]


@dataclass
class Site:
    base: str
    tokens: dict[str, str]
    users: Path
    root: Path
    backend: str

    def get(self, who: str, path: str, **params: Any) -> httpx.Response:
        return httpx.get(f"{self.base}{path}", params=params, headers=self.auth(who), timeout=120)

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def ask(self, who: str, collection: str | None, question: str = QUESTION) -> httpx.Response:
        body: dict[str, Any] = {"question": question}
        if collection is not None:
            body["collection"] = collection
        return httpx.post(f"{self.base}/api/ask", json=body, headers=self.auth(who), timeout=120)

    def audit(self) -> list[dict[str, Any]]:
        return AuditLog(data_paths(self.users, self.root)[1]).events()


@pytest.fixture(scope="module", params=["faiss", "postgres"])
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp(f"collections-{request.param}")
    (root / "docs").mkdir()
    (root / "docs" / "cafeteria.txt").write_text("The cafeteria opens at 8 am and serves soup on Fridays.\n")
    (root / "docs" / "office.txt").write_text("The office is on the fourth floor of the Larkspur building.\n")
    (root / "hr").mkdir()
    (root / "hr" / SECRET).write_text(FACT + "\n", encoding="utf-8")
    shutil.copy(ROOT / "evals" / "docs" / PDF, root / "hr" / PDF)
    extra: dict[str, Any] = {}
    if request.param == "postgres":
        extra = {
            "vector_backend": "postgres",
            "pg_dsn": request.getfixturevalue("pg_dsn"),
            "pg_schema": f"t_{uuid.uuid4().hex[:12]}",
        }
    settings = Settings(
        docs_dir=root / "docs", index_dir=root / "index", collections_file=root / "collections.json", **extra
    )
    registry = Registry.of(settings)
    registry.add("hr", root / "hr")
    registry.grant("hr", group="hr")
    users = root / "users.json"
    store = UserStore(users)
    store.add("ann", "reader", "ann-password", groups=["hr"])
    store.add("bob", "reader", "bob-password", groups=["engineering"])
    store.add("eve", "editor", "eve-password")
    store.add("root", "admin", "root-password")
    tokens = {name: store.issue_token(name) for name in ("ann", "bob", "eve", "root")}
    bot = rag.load(settings=settings, progress=False)
    with running_server(bot, users) as base:
        yield Site(base, tokens, users, root, request.param)


def leaks(response: httpx.Response | str) -> bool:
    """Whether anything of hr shows: its fact, its documents' names, its collection's name."""
    text = response if isinstance(response, str) else response.text
    return any(word in text for word in ("23 weeks", "Zephyrine", SECRET, PDF, "lantern", '"hr"'))


def tells(text: str) -> bool:
    """Whether hr's content shows (its fact, a page image), whatever names the caller's own words echo."""
    return any(word in text for word in ("23 weeks", "Zephyrine", "Quillfeather", "PNG", "relay"))


# /api/ask --------------------------------------------------------------------------------------------------


def test_ask_member_gets_a_cited_answer_from_her_collection(site: Site) -> None:
    reply = site.ask("ann", "hr")
    assert reply.status_code == 200, reply.text
    answer = reply.json()
    assert "23 weeks" in answer["answer"] and answer["citations"][0]["source"] == SECRET
    assert site.ask("root", "hr").json()["citations"][0]["source"] == SECRET  # admins read everything


def test_ask_outsider_gets_nothing_of_hr_by_any_name(site: Site) -> None:
    absent = site.ask("bob", "no_such_collection")
    assert absent.status_code == 404
    for name in COLLECTION_TRIES:
        reply = site.ask("bob", name)
        assert reply.status_code in (404, 422), (name, reply.text)
        if reply.status_code == 404:  # exactly the answer of a name that does not exist
            assert reply.json() == {"error": f"no collection named {name!r}"}
            assert set(reply.headers) == set(absent.headers)
    for editor in ("eve",):
        assert site.ask(editor, "hr").status_code == 404


def test_no_leak_through_the_shared_default(site: Site) -> None:
    for who in ("bob", "ann"):  # even the member asks default in vain: hr's documents are not in it
        for question in (QUESTION, "Zephyrine committee parental leave", "What does lantern-manual.pdf say?"):
            reply = site.ask(who, None, question)
            assert reply.status_code == 200
            answer = reply.json()
            assert all(c["source"] in {"cafeteria.txt", "office.txt"} for c in answer["citations"])
            assert "23 weeks" not in answer["answer"] and "Zephyrine" not in json.dumps(answer["citations"])
    for attempt in ([SECRET], [f"../hr/{SECRET}"], ["*"], ["**/*"]):
        reply = site.ask("bob", None, QUESTION if attempt != ["*"] else "parental leave weeks")
        body = json.dumps(reply.json())
        assert "23 weeks" not in body and SECRET not in body.replace(json.dumps(attempt)[1:-1], "")


def test_a_refusal_takes_as_long_as_a_name_that_does_not_exist(site: Site) -> None:
    times: dict[str, list[float]] = {"hr": [], "nope": []}
    with httpx.Client(base_url=site.base, headers=site.auth("bob")) as http:  # one connection: no setup to time
        for _ in range(40):
            for name in times:  # interleaved, so load on the machine hits both alike
                started = time.perf_counter()
                assert http.post("/api/ask", json={"question": QUESTION, "collection": name}).status_code == 404
                times[name].append(time.perf_counter() - started)
    medians = {name: statistics.median(values) for name, values in times.items()}
    gap = abs(medians["hr"] - medians["nope"])
    assert gap < 0.1 * max(medians.values()) + 0.001, f"median 404 times differ: {medians}"


# /api/collections, /api/documents and its text and page routes -------------------------------------------------


def test_collections_lists_only_the_callers(site: Site) -> None:
    assert site.get("ann", "/api/collections").json() == [{"name": "default"}, {"name": "hr"}]
    assert site.get("bob", "/api/collections").json() == [{"name": "default"}]
    assert site.get("root", "/api/collections").json() == [{"name": "default"}, {"name": "hr"}]


def test_documents_of_a_collection_for_the_member_only(site: Site) -> None:
    listed = site.get("ann", "/api/documents", collection="hr")
    assert listed.status_code == 200 and {d["name"] for d in listed.json()} == {SECRET, PDF}
    text = site.get("ann", f"/api/documents/{SECRET}/text", collection="hr")
    assert text.status_code == 200 and text.text.startswith(FACT)
    page = site.get("ann", f"/api/documents/{PDF}/pages/3", collection="hr")
    if site.backend == "faiss":  # the Postgres backend stores no page spans, so no page images (as in the chat)
        assert page.status_code == 200 and page.content.startswith(b"\x89PNG")

    default = site.get("bob", "/api/documents")
    assert default.status_code == 200 and not leaks(default)
    assert site.get("bob", "/api/documents", collection="default").json() == default.json()
    for name in COLLECTION_TRIES:
        assert site.get("bob", "/api/documents", collection=name).status_code in (404, 422), name
    for collection in ("hr", "default", None):
        for name in DOCUMENT_TRIES:
            params = {"collection": collection} if collection else {}
            for path in (f"/api/documents/{name}/text", f"/api/documents/{name}/pages/3"):
                reply = site.get("bob", path, **params)
                # ".." may climb out of /api (httpx normalizes it): then the sign-in guard answers 401
                assert reply.status_code in (401, 404) and not tells(reply.text), (path, collection)


def test_an_editor_edits_only_the_collections_she_reads(site: Site) -> None:
    reply = httpx.delete(f"{site.base}/api/documents/{SECRET}", params={"collection": "hr"}, headers=site.auth("eve"))
    assert reply.status_code == 404 and reply.json() == {"error": "no collection named 'hr'"}
    assert (site.root / "hr" / SECRET).exists()
    reader = httpx.delete(f"{site.base}/api/documents/{SECRET}", params={"collection": "hr"}, headers=site.auth("ann"))
    assert reader.status_code == 403  # ann reads hr, but a reader edits nothing
    assert site.get("ann", "/api/documents", collection="hr").status_code == 200


# Conversations and exports -----------------------------------------------------------------------------


def test_a_conversation_in_hr_stays_with_its_readers(site: Site) -> None:
    answer = site.ask("ann", "hr").json()
    db = Database(data_paths(site.users, site.root)[0])
    conversations = ConversationStore(db)
    mine = conversations.append("ann", None, QUESTION, "<p>23 weeks</p>", answer, collection="hr")
    assert site.get("ann", f"/api/conversations/{mine}").json()["collection"] == "hr"
    export = site.get("ann", f"/api/conversations/{mine}/export", format="markdown")
    assert export.status_code == 200 and "23 weeks" in export.text
    for path in (f"/api/conversations/{mine}", f"/api/conversations/{mine}/export"):
        assert site.get("bob", path).status_code == 404
        assert site.get("bob", path, format="json").status_code == 404
    assert not leaks(site.get("bob", "/api/conversations"))
    # A revoked grant closes the answers it gave: ann's own hr conversation reads as absent.
    registry = Registry(site.root / "collections.json", site.root / "docs")
    registry.revoke("hr", group="hr")
    try:
        assert site.get("ann", f"/api/conversations/{mine}").status_code == 404
        assert mine not in site.get("ann", "/api/conversations").text
        assert site.ask("ann", "hr").status_code == 404
    finally:
        registry.grant("hr", group="hr")
    assert site.get("ann", f"/api/conversations/{mine}").status_code == 200
    db.close()


# The OpenAI-compatible /v1 ------------------------------------------------------------------------------


def client(site: Site, who: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{site.base}/v1", api_key=site.tokens[who], max_retries=0)


def test_v1_one_model_per_readable_collection(site: Site) -> None:
    assert [m.id for m in client(site, "ann").models.list().data] == ["rag", "hr"]
    assert [m.id for m in client(site, "bob").models.list().data] == ["rag"]
    completion = client(site, "ann").chat.completions.create(
        model="hr", messages=[{"role": "user", "content": QUESTION}]
    )
    assert "23 weeks" in (completion.choices[0].message.content or "") and completion.model == "hr"
    assert completion.citations[0]["source"] == SECRET  # type: ignore[attr-defined]


def test_v1_outsider_gets_model_not_found_as_for_a_model_that_does_not_exist(site: Site) -> None:
    bob = client(site, "bob")
    messages: Any = [{"role": "user", "content": QUESTION}]
    errors = {}
    for model in ("hr", "nope", "HR", "../hr", "default"):
        with pytest.raises(openai.NotFoundError) as raised:
            bob.chat.completions.create(model=model, messages=messages)
        errors[model] = raised.value.body
        with pytest.raises(openai.NotFoundError):
            bob.models.retrieve(model)
    assert errors["hr"] == {**errors["nope"], "message": errors["nope"]["message"].replace("'nope'", "'hr'")}  # type: ignore[index]
    assert not leaks(json.dumps(errors["nope"]))
    streamed = bob.chat.completions.create(model="rag", messages=messages, stream=True)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in streamed if chunk.choices)
    assert "23 weeks" not in text
    plain = bob.chat.completions.create(model="rag", messages=messages)
    assert not leaks(json.dumps(plain.model_dump()).replace(QUESTION, ""))


# MCP ----------------------------------------------------------------------------------------------------


def mcp_calls(site: Site, who: str, calls: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    async def run() -> list[Any]:
        async with (
            create_mcp_http_client(headers=site.auth(who)) as http,
            streamable_http_client(f"{site.base}/mcp", http_client=http) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            return [await session.call_tool(name, arguments) for name, arguments in calls]

    return anyio.run(run)


def test_mcp_member_reads_hr_through_the_collection_argument(site: Site) -> None:
    ask, listing, read = mcp_calls(
        site,
        "ann",
        [
            ("ask", {"question": QUESTION, "collection": "hr"}),
            ("list_documents", {"collection": "hr"}),
            ("read_document", {"name": SECRET, "collection": "hr"}),
        ],
    )
    assert not ask.is_error and ask.structured_content["citations"][0]["source"] == SECRET
    assert {d["name"] for d in listing.structured_content["documents"]} == {SECRET, PDF}
    assert read.structured_content["text"].startswith(FACT)


def test_mcp_outsider_gets_nothing_of_hr(site: Site) -> None:
    calls: list[tuple[str, dict[str, Any]]] = []
    for collection in ("hr", "nope", "../hr"):
        calls += [
            ("search", {"query": QUESTION, "collection": collection}),
            ("ask", {"question": QUESTION, "collection": collection}),
            ("list_documents", {"collection": collection}),
            ("read_document", {"name": SECRET, "collection": collection}),
        ]
    results = mcp_calls(site, "bob", calls)
    for (tool, arguments), result in zip(calls, results, strict=True):
        assert result.is_error, (tool, arguments)
        assert result.content[0].text.endswith(f"no collection named {arguments['collection']!r}")
    default = mcp_calls(
        site,
        "bob",
        [
            ("search", {"query": QUESTION}),
            ("ask", {"question": QUESTION}),
            ("list_documents", {}),
            *[("read_document", {"name": name}) for name in DOCUMENT_TRIES],
        ],
    )
    for result in default:
        body = json.dumps(result.structured_content or {}) + result.content[0].text
        assert "23 weeks" not in body and "Zephyrine" not in body
        assert SECRET not in body.replace(f"{SECRET} is not indexed", "").replace(f"/{SECRET}", "")
    assert all(result.is_error for result in default[3:])


# Audit --------------------------------------------------------------------------------------------------


def test_denied_collection_access_is_audited(site: Site) -> None:
    site.ask("bob", "hr")
    denied = [e for e in site.audit() if e["event"] == "collection_denied" and e["user"] == "bob"]
    assert denied and denied[-1]["collection"] == "hr"

    def denials_of_ann() -> int:
        return sum(e["event"] == "collection_denied" and e["user"] == "ann" for e in site.audit())

    before = denials_of_ann()
    assert site.ask("ann", "hr").status_code == 200 and denials_of_ann() == before  # only refusals are logged
