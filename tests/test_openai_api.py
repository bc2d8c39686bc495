"""The OpenAI-compatible ``/v1`` of a real ``rag serve``, driven by the real ``openai`` client and LangChain.

The answer and citations must be those of ``POST /api/ask`` for the same question; streamed or not; the
client must raise its own exceptions for a bad key (401), a refused field (400) and the rate limit (429).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

pytest.importorskip("gradio")

import openai

from rag.answer.types import REFUSAL_TEXT
from tests.conftest import SIGNING
from tests.serve_process import RATE_LIMIT, RagServe

QUESTION = "Who signed the KT-Microsoft agreement, and where?"
FOLLOW_UP = "And when will they share the details?"
CITATION_FIELDS = ["n", "source", "start", "end", "text", "score", "page", "page_label", "section"]


def client(serve: RagServe, token: str, **options: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{serve.base}/v1", api_key=token, **options)


def api_ask(serve: RagServe, token: str, question: str) -> dict[str, Any]:
    reply = httpx.post(
        f"{serve.base}/api/ask", json={"question": question}, headers={"Authorization": f"Bearer {token}"}, timeout=60
    )
    assert reply.status_code == 200, reply.text
    result: dict[str, Any] = reply.json()
    return result


def test_models_lists_rag(rag_serve: RagServe) -> None:
    models = client(rag_serve, rag_serve.account()).models.list()
    assert [m.id for m in models.data] == ["rag"]
    assert client(rag_serve, rag_serve.account()).models.retrieve("rag").id == "rag"


def test_a_completion_is_the_api_answer_with_its_citations(rag_serve: RagServe) -> None:
    token = rag_serve.account()
    expected = api_ask(rag_serve, token, QUESTION)
    completion = client(rag_serve, token).chat.completions.create(
        model="rag",
        messages=[{"role": "system", "content": "You are terse."}, {"role": "user", "content": QUESTION}],
    )
    assert completion.object == "chat.completion" and completion.model == "rag"
    choice = completion.choices[0]
    assert choice.finish_reason == "stop" and choice.message.role == "assistant"
    assert choice.message.content == expected["answer"] and "[1]" in expected["answer"]
    citations = completion.citations  # type: ignore[attr-defined]  (an extra field, read as the client reads it)
    assert citations == expected["citations"] and citations[0]["source"] == SIGNING
    assert list(citations[0]) == CITATION_FIELDS
    assert completion.rag == {  # type: ignore[attr-defined]
        "refused": False,
        "notice": expected["notice"],
        "verification": expected["verification"],
        "backend": expected["backend"],
        "standalone_question": None,
    }


def test_a_stream_carries_the_same_text_and_the_citations_on_its_final_chunk(rag_serve: RagServe) -> None:
    token = rag_serve.account()
    expected = api_ask(rag_serve, token, QUESTION)
    chunks = list(
        client(rag_serve, token).chat.completions.create(
            model="rag", messages=[{"role": "user", "content": QUESTION}], stream=True
        )
    )
    assert len(chunks) > 3 and len({c.id for c in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == expected["answer"]
    finished = [c for c in chunks if c.choices[0].finish_reason is not None]
    assert finished == [chunks[-1]] and chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].citations == expected["citations"]  # type: ignore[attr-defined]
    assert chunks[-1].rag["refused"] is False  # type: ignore[attr-defined]
    assert all(getattr(c, "citations", None) is None for c in chunks[:-1])


def test_a_follow_up_is_rewritten_with_the_history(rag_serve: RagServe) -> None:
    token = rag_serve.account()
    first = api_ask(rag_serve, token, QUESTION)
    alone = api_ask(rag_serve, token, FOLLOW_UP)
    completion = client(rag_serve, token).chat.completions.create(
        model="rag",
        messages=[
            {"role": "user", "content": QUESTION},
            {"role": "assistant", "content": first["answer"]},
            {"role": "user", "content": [{"type": "text", "text": FOLLOW_UP}]},
        ],
    )
    searched = completion.rag["standalone_question"]  # type: ignore[attr-defined]
    assert searched and searched != FOLLOW_UP and "Microsoft" in searched
    assert completion.choices[0].message.content != alone["answer"]
    assert completion.citations  # type: ignore[attr-defined]


def test_a_refusal_is_a_normal_completion_marked_refused(rag_serve: RagServe) -> None:
    completion = client(rag_serve, rag_serve.account()).chat.completions.create(
        model="rag", messages=[{"role": "user", "content": "What is the boiling point of liquid nitrogen on Mars?"}]
    )
    assert completion.choices[0].message.content == REFUSAL_TEXT
    assert completion.rag["refused"] is True and completion.citations == []  # type: ignore[attr-defined]


def test_a_bad_key_is_an_authentication_error_in_openais_shape(rag_serve: RagServe) -> None:
    with pytest.raises(openai.AuthenticationError) as raised:
        client(rag_serve, "not-a-token").chat.completions.create(
            model="rag", messages=[{"role": "user", "content": QUESTION}]
        )
    assert raised.value.status_code == 401
    body = raised.value.body
    assert isinstance(body, dict) and body["type"] == "invalid_request_error" and body["code"] == "invalid_api_key"
    # No key at all: the same shape, straight from the wire.
    bare = httpx.post(f"{rag_serve.base}/v1/chat/completions", json={"model": "rag", "messages": []})
    assert bare.status_code == 401 and set(bare.json()["error"]) >= {"message", "type", "code"}
    assert bare.headers["www-authenticate"].startswith("Bearer")
    # /api keeps its own shape.
    assert httpx.post(f"{rag_serve.base}/api/ask", json={"question": QUESTION}).json()["error"].startswith("sign in")


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"n": 2}, "n"),
        ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]}, "tools"),
        ({"response_format": {"type": "json_object"}}, "response_format"),
        ({"stop": ["."]}, "stop"),
        ({"logprobs": True}, "logprobs"),
        ({"extra_body": {"retrieval_mode": "dense"}}, "retrieval_mode"),
    ],
)
def test_a_field_that_would_change_the_answer_is_refused_by_name(
    rag_serve: RagServe, extra: dict[str, Any], param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        client(rag_serve, rag_serve.account()).chat.completions.create(
            model="rag", messages=[{"role": "user", "content": QUESTION}], **extra
        )
    body = raised.value.body
    assert isinstance(body, dict) and body["param"] == param and param in body["message"]


def test_images_and_tool_messages_are_refused_and_sampling_fields_accepted(rag_serve: RagServe) -> None:
    chat = client(rag_serve, rag_serve.account()).chat.completions
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    with pytest.raises(openai.BadRequestError) as raised:
        chat.create(model="rag", messages=[{"role": "user", "content": [{"type": "text", "text": QUESTION}, image]}])
    assert raised.value.body["param"] == "messages[0].content[1]"  # type: ignore[index]
    with pytest.raises(openai.NotFoundError) as missing:
        chat.create(model="gpt-4o", messages=[{"role": "user", "content": QUESTION}])
    assert missing.value.body["code"] == "model_not_found"  # type: ignore[index]
    tuned = chat.create(
        model="rag", messages=[{"role": "user", "content": QUESTION}], temperature=0.2, max_tokens=300, seed=7, n=1
    )
    assert tuned.citations  # type: ignore[attr-defined]


def test_the_rate_limit_is_a_429_in_openais_shape_shared_with_the_api(rag_serve: RagServe) -> None:
    token = rag_serve.account("quick")
    for _ in range(RATE_LIMIT):
        api_ask(rag_serve, token, QUESTION)
    with pytest.raises(openai.RateLimitError) as raised:
        client(rag_serve, token, max_retries=0).chat.completions.create(
            model="rag", messages=[{"role": "user", "content": QUESTION}]
        )
    assert raised.value.body["code"] == "rate_limit_exceeded"  # type: ignore[index]
    assert 0 < int(raised.value.response.headers["retry-after"]) <= 60


def test_unknown_v1_paths_are_404_in_openais_shape(rag_serve: RagServe) -> None:
    reply = httpx.get(f"{rag_serve.base}/v1/embeddings", headers={"Authorization": f"Bearer {rag_serve.account()}"})
    assert reply.status_code == 404 and reply.json()["error"]["code"] == "unknown_url"


def test_langchain_chat_openai_pointed_at_it(rag_serve: RagServe) -> None:
    from langchain_openai import ChatOpenAI

    token = rag_serve.account()
    expected = api_ask(rag_serve, token, QUESTION)
    chat = ChatOpenAI(base_url=f"{rag_serve.base}/v1", api_key=token, model="rag")  # type: ignore[arg-type]
    assert chat.invoke(QUESTION).content == expected["answer"]
    assert "".join(str(piece.content) for piece in chat.stream(QUESTION)) == expected["answer"]
