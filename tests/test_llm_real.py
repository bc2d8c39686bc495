"""The LLM answerers against a real model: SmolLM2-135M served by llama.cpp (tests/llm_real.py) or run in-process.

A 135M model is wrong about most things, which is what these tests need: they assert the contract, never
the wording. Every citation shown points to a passage that was in the prompt; an answer the documents do
not back never reaches the user as their answer; every reply is bounded in tokens and time; temperature 0
gives the same reply twice. Prompts are kept short (two passages) and requests few (eleven, some of them
tiny) so the module runs in about a minute on two idle cores. It is much slower when the cores are shared.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest

import rag
from rag.answer.answerers import build_answerer
from rag.answer.answerers.citations import citation_schema, completed_sentences
from rag.answer.answerers.llm import LLMAnswerer, build_messages
from rag.answer.verify import UNVERIFIED_NOTICE
from tests.llm_real import MODEL_ALIAS, LlamaServer, require_model

pytestmark = pytest.mark.slow

K = 2
MAX_TOKENS = 96
# A bound, not a speed target: 96 tokens plus a ~400-token prompt take about 3 s on two idle cores, but
# up to a minute when other work shares them. The token limit is what keeps a reply from running away.
BOUND_S = 150


@pytest.fixture(autouse=True)
def _no_hosted_openai(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


def openai_settings(server: LlamaServer, **changes: object) -> rag.Settings:
    base = rag.Settings(
        answerer="openai",
        model=MODEL_ALIAS,
        llm_base_url=server.url,
        llm_timeout_s=BOUND_S,
        llm_max_tokens=MAX_TOKENS,
        top_k=K,
    )
    return base.replace(**changes)


def assert_contract(answer: rag.Answer) -> None:
    """What every answer owes the user, whatever the model wrote."""
    shown = {(p.source, p.start, p.end) for p in answer.passages}
    assert len(answer.passages) == K
    for citation in answer.citations:
        assert (citation.source, citation.start, citation.end) in shown, "a citation to a passage not in the prompt"
    assert [c.n for c in answer.citations] == list(range(1, len(answer.citations) + 1))
    if answer.backend != "extractive" and not answer.refused:
        # An LLM answer shown as the documents' answer cites them and has a supported sentence.
        assert answer.verification in {"verified", "partial"} and answer.citations
    if answer.verification == "replaced":
        assert answer.notice and answer.notice.startswith(UNVERIFIED_NOTICE)


def timed_ask(bot: rag.Bot, question: str, answerer: rag.Answerer, **kwargs: object) -> rag.Answer:
    started = time.perf_counter()
    answer = bot.ask(question, k=K, answerer=answerer, **kwargs)  # type: ignore[arg-type]
    assert time.perf_counter() - started < BOUND_S
    return answer


# ---------------------------------------------------------------------------------- the server


def test_the_token_limit_reaches_the_server(llama_server: LlamaServer) -> None:
    answerer = build_answerer(openai_settings(llama_server, llm_max_tokens=24))
    assert isinstance(answerer, LLMAnswerer)
    reply = answerer.chat_model.invoke(
        [("human", "Write a very long story about a dragon, at least 2000 words.")], **answerer.request(None)
    )
    usage = reply.response_metadata["token_usage"]
    assert usage["completion_tokens"] <= 24 and reply.response_metadata["finish_reason"] == "length"


def test_openai_answerer_over_the_real_server_is_deterministic(seed_bot: rag.Bot, llama_server: LlamaServer) -> None:
    answerer = build_answerer(openai_settings(llama_server))
    first = timed_ask(seed_bot, "Who signed the KT-Microsoft agreement?", answerer)
    assert_contract(first)
    second = timed_ask(seed_bot, "Who signed the KT-Microsoft agreement?", answerer)
    assert (second.text, second.verification, second.backend) == (first.text, first.verification, first.backend)


def test_openai_answerer_streams_from_the_real_server(seed_bot: rag.Bot, llama_server: LlamaServer) -> None:
    answerer = build_answerer(openai_settings(llama_server))
    items = list(seed_bot.stream("When will KT reveal details of the partnership?", k=K, answerer=answerer))
    answer = items[-1]
    assert isinstance(answer, rag.Answer) and all(isinstance(piece, str) for piece in items[:-1])
    assert len(items) > 2, "the reply arrives in pieces"
    assert_contract(answer)


@pytest.mark.parametrize("citations", ["markers", "json"])
def test_an_answer_from_outside_the_documents_never_reaches_the_user(
    seed_bot: rag.Bot, llama_server: LlamaServer, citations: str
) -> None:
    # SmolLM2 answers this from its own knowledge, over KT passages, with no citation.
    answerer = build_answerer(openai_settings(llama_server, citations=citations))
    answer = timed_ask(seed_bot, "What is the capital of France?", answerer)
    assert_contract(answer)
    assert "Paris" not in answer.text
    assert answer.refused or answer.backend == "extractive"


def test_structured_citations_are_constrained_to_the_passages_shown(
    seed_bot: rag.Bot, llama_server: LlamaServer
) -> None:
    # 160 tokens always reach the first id list: a sentence's text is at most 300 characters (~75 tokens).
    answerer = build_answerer(openai_settings(llama_server, citations="json", llm_max_tokens=160))
    assert isinstance(answerer, LLMAnswerer) and answerer.structured
    question = "How many tokens was Mi:dm trained on?"
    passages = seed_bot.retrieve(question, k=K)
    reply = answerer.chat_model.invoke(
        build_messages(question, passages, structured=True), **answerer.request(len(passages))
    )
    content = str(reply.content)
    assert content.lstrip().startswith('{"sentences"') or content.lstrip().startswith('{ "sentences"')
    # The reply may be cut off by the token limit, so the ids are read where they stand, complete or not.
    schema = citation_schema(len(passages))["properties"]["sentences"]["items"]["properties"]["passages"]
    id_lists = re.findall(r'"passages"\s*:\s*\[([^\]]*)\]', content)
    assert id_lists, content
    for ids in id_lists:
        numbers = [int(n) for n in re.findall(r"-?\d+", ids)]
        assert len(numbers) <= schema["maxItems"] and all(1 <= n <= K for n in numbers), content
    for sentence in completed_sentences(content):  # what the parser makes of each complete entry
        assert all(1 <= int(n) <= K for n in re.findall(r"\[(\d+)\]", sentence))


def test_follow_up_is_rewritten_by_the_real_model(llama_server: LlamaServer) -> None:
    history = [
        ("user", "Who signed the KT-Microsoft agreement?"),
        ("assistant", "Kim Young-shub and Satya Nadella signed it [1]."),
    ]
    answerer = build_answerer(openai_settings(llama_server))
    assert isinstance(answerer, LLMAnswerer)
    rewritten = answerer.rewrite("and when will they share the details?", history)
    assert rewritten.strip() and "\n" not in rewritten and len(rewritten) < 600


# ------------------------------------------------------------------------------ in-process llama.cpp


@pytest.fixture(scope="module")
def in_process() -> Iterator[rag.Answerer]:
    """The llamacpp answerer as a user gets it with no model configured: the packaged SmolLM2."""
    require_model()
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("RAG_LLAMACPP_MODEL", raising=False)
        yield build_answerer(rag.Settings(answerer="llamacpp", llm_max_tokens=MAX_TOKENS))


def test_llamacpp_runs_the_packaged_model_in_process(seed_bot: rag.Bot, in_process: rag.Answerer) -> None:
    assert isinstance(in_process, LLMAnswerer) and "SmolLM2-135M-Instruct" in in_process.label
    answer = timed_ask(seed_bot, "What is the capital of France?", in_process)
    assert_contract(answer)
    assert "Paris" not in answer.text and (answer.refused or answer.backend == "extractive")


def test_llamacpp_streams_in_process(seed_bot: rag.Bot, in_process: rag.Answerer) -> None:
    items = list(seed_bot.stream("When will KT reveal details of the partnership?", k=K, answerer=in_process))
    answer = items[-1]
    assert isinstance(answer, rag.Answer)
    assert_contract(answer)
