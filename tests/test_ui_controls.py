"""The chat's answer updates without a browser: what each one does to the question box, when Stop marks an
answer, and what the sidebar gets with an answer's last update."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any, cast

import pytest

gr = pytest.importorskip("gradio")

from ui.access import ChatAccess, ConversationSummary, Viewer  # noqa: E402
from ui.controls import STOPPED_NOTICE, AnswerStreams, with_stop  # noqa: E402
from ui.conversations import list_after_answer  # noqa: E402

STREAMING = [{"role": "user", "content": "Who?"}, {"role": "assistant", "content": '<div class="rag-streaming">Sa'}]


def sets_text(update: Any) -> bool:
    """Whether a question-box update sets the box's text (a Textbox built with value=...)."""
    return isinstance(update, gr.Textbox) and "value" in update._constructor_args[0]


def answer_updates(n: int) -> Iterator[tuple[Any, ...]]:
    for i in range(n):
        yield "", [{"role": "assistant", "content": f"part {i}"}], gr.skip(), "conv-1"


@pytest.mark.parametrize("n", [1, 2, 5])
def test_only_the_first_update_empties_the_box_and_only_when_asked(n: int) -> None:
    asked = list(with_stop(answer_updates(n), clear=True))
    assert sets_text(asked[0][0]) and asked[0][0].value == ""
    assert not any(sets_text(update[0]) for update in asked[1:])  # nor Gradio's replay of the last one
    assert asked[-1][1] == [{"role": "assistant", "content": f"part {n - 1}"}]  # the final answer goes out
    retried = list(with_stop(answer_updates(n), clear=False))
    assert not any(sets_text(update[0]) for update in retried)


def test_the_sidebar_comes_with_the_last_update_only() -> None:
    seen: list[tuple[Any, ...] | None] = []

    def after(update: tuple[Any, ...] | None) -> tuple[Any, ...]:
        seen.append(update)
        return ("list" if update else "unchanged",)

    updates = list(with_stop(answer_updates(3), clear=True, after=after))
    assert [u[-1] for u in updates] == ["unchanged", "unchanged", "list"]
    assert seen[-1] is not None and seen[-1][1] == [{"role": "assistant", "content": "part 2"}]
    single = list(with_stop(answer_updates(1), clear=True, after=after))  # one update: the list follows it
    assert [u[-1] for u in single] == ["unchanged", "list"]


def streamed_pieces(n: int) -> Iterator[tuple[Any, ...]]:
    yield "", [{"role": "user", "content": "Who?"}], gr.skip(), None
    for i in range(n):
        history = [
            {"role": "user", "content": "Who?"},
            {"role": "assistant", "content": STREAMING[1]["content"] + f" {i}"},
        ]
        yield "", history, gr.skip(), None


def test_stop_makes_the_answer_end_itself_marked_as_stopped() -> None:
    streams = AnswerStreams(wait_s=10)
    closed: list[bool] = []

    def pieces() -> Iterator[tuple[Any, ...]]:
        try:
            yield from streamed_pieces(100)
        finally:
            closed.append(True)  # the answerer's stream (an LLM's connection) is closed

    stream = streams.run("tab-1", pieces(), clear=True)
    sent = [next(stream), next(stream), next(stream)]  # the question, then the stop button with a piece
    handled: list[tuple[Any, Any]] = []
    stopper = threading.Thread(target=lambda: handled.append(streams.stop(STREAMING, gr.Request(session_hash="tab-1"))))
    stopper.start()
    time.sleep(0.2)  # Stop pressed; the next piece arrives
    sent += list(stream)
    stopper.join(5)
    last = sent[-1]
    # The answer's own last update is marked, with the send button back: it and Gradio's replay of it agree.
    assert last[1][-1]["content"].endswith(STOPPED_NOTICE) and last[0].stop_btn is False
    assert len(sent) < 10 and closed == [True]
    assert handled == [(gr.skip(), gr.skip())]  # the handler adds nothing that could land out of order


def test_an_answer_silent_after_stop_is_marked_by_the_handler(caplog: pytest.LogCaptureFixture) -> None:
    streams = AnswerStreams(wait_s=0.2)
    stream = streams.run("tab-2", streamed_pieces(100), clear=True)
    next(stream), next(stream)
    started = time.monotonic()
    box, history = streams.stop(STREAMING, gr.Request(session_hash="tab-2"))  # no further piece comes
    assert 0.2 <= time.monotonic() - started < 5
    assert history[-1]["content"].endswith(STOPPED_NOTICE) and box.stop_btn is False
    assert "sent nothing" in caplog.text
    last = list(stream)[-1]  # when its next piece comes, the answer ends marked all the same
    assert last[1][-1]["content"].endswith(STOPPED_NOTICE)
    _, other = streams.stop(STREAMING, gr.Request(session_hash="another-tab"))  # nothing streams there
    assert other[-1]["content"].endswith(STOPPED_NOTICE)


class Conversations:
    """The one part of ChatAccess the sidebar's refresh reads."""

    def conversations(self, viewer: Viewer) -> list[ConversationSummary]:
        return [ConversationSummary("c2", "Mi:dm (2)", 2.0), ConversationSummary("c1", "Mi:dm", 1.0)]


def test_a_continued_conversations_title_box_is_left_alone() -> None:
    access = cast(ChatAccess, Conversations())
    viewer = Viewer("rita", "reader", signed_in=True, can_upload=False)
    continued = list_after_answer(access, viewer, "c2", "")("c2", True)
    assert continued[0]["choices"] == [("Mi:dm (2)", "c2"), ("Mi:dm", "c1")] and continued[0]["value"] == "c2"
    assert continued[2]["visible"] is True
    assert continued[3] == gr.skip()  # a title being edited is not overwritten
    begun = list_after_answer(access, viewer, None, "")("c2", True)
    assert begun[3]["value"] == "Mi:dm (2)"
    assert list_after_answer(access, viewer, None, "")("c2", False) == (gr.skip(),) * 4
