"""``bot.retriever`` against LangChain's own standard retriever tests (``langchain-tests``), sync and async.

The bot reads the Lantern manual, a PDF with printed page labels and sections, so the metadata test can
check page, page label and section beside source, offsets and score.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("langchain_tests")

from langchain_core.documents import Document
from langchain_tests.integration_tests import RetrieversIntegrationTests

import rag
from rag.bot.langchain import BotRetriever

ROOT = Path(__file__).resolve().parent.parent
PORT_QUESTION = "Which port does the relay listen on by default?"
METADATA = {"rank", "source", "start", "end", "score", "page", "page_label", "section"}


@pytest.fixture(scope="module")
def manual_bot(tmp_path_factory: pytest.TempPathFactory) -> rag.Bot:
    root = tmp_path_factory.mktemp("langchain-bot")
    (root / "docs").mkdir()
    shutil.copy(ROOT / "evals" / "docs" / "lantern-manual.pdf", root / "docs")
    return rag.load(root / "docs", root / "index", progress=False)


class TestBotRetrieverStandard(RetrieversIntegrationTests):
    """LangChain's standard suite as it ships (its async test runs under pytest-asyncio's auto mode)."""

    bot: rag.Bot

    @pytest.fixture(autouse=True)
    def _bot(self, manual_bot: rag.Bot) -> None:
        type(self).bot = manual_bot

    @property
    def retriever_constructor(self) -> type[BotRetriever]:
        return BotRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {"bot": self.bot}

    @property
    def retriever_query_example(self) -> str:
        return PORT_QUESTION


def test_metadata_carries_page_label_and_section(manual_bot: rag.Bot) -> None:
    documents = manual_bot.retriever.invoke(PORT_QUESTION, k=3)
    assert len(documents) == 3 and all(isinstance(d, Document) for d in documents)
    assert all(set(d.metadata) == METADATA for d in documents)
    ports = next(d for d in documents if d.page_content.startswith("The relay listens on port 7431"))
    metadata = ports.metadata
    # The page where the passage starts: physical page 3, printed "2", in section 2.1.
    assert (metadata["source"], metadata["page"], metadata["page_label"]) == ("lantern-manual.pdf", 3, "2")
    assert metadata["section"] == "2 Configuration > 2.1 Ports"
    text = manual_bot.document_text("lantern-manual.pdf")
    assert text[metadata["start"] : metadata["end"]] == ports.page_content
    assert [d.metadata["rank"] for d in documents] == [1, 2, 3] and isinstance(metadata["score"], float)


async def test_ainvoke_takes_k_and_sources_too(manual_bot: rag.Bot) -> None:
    documents = await manual_bot.retriever.ainvoke(PORT_QUESTION, k=2, sources=["*.pdf"])
    assert len(documents) == 2 and {d.metadata["source"] for d in documents} == {"lantern-manual.pdf"}
    with pytest.raises(rag.QuestionError, match="no-such"):
        await manual_bot.retriever.ainvoke(PORT_QUESTION, sources=["no-such-*.md"])
