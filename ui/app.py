"""The web chat: a Gradio page with streamed, cited answers beside an evidence panel.

``build_app(bot)`` makes the page; ``serve(settings)`` serves it as ``rag serve`` does. The page
works with no network at all: analytics are off, no share link is made, and only the fonts Gradio ships
are used. It also exposes ``/ask`` for scripts, returning the same JSON as ``rag ask --json``.
"""

from __future__ import annotations

import os

# Set before gradio is imported: it reads them at import time.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
# Gradio's queue rebuilds a pandas summary of up to 10,000 past events after every request (for a
# monitoring page this app does not serve): under load that cost grows with traffic. Recompute it rarely.
os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", "1000")
os.environ.setdefault("GRADIO_ANALYTICS_MAX_EVENTS", "1000")

import html
import logging
import re
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import gradio as gr

import rag
from rag import Answer, Bot
from rag.answer.backends import ollama_models, openai_models
from rag.answer.wire import ask_json
from rag.bot.registry import DEFAULT
from rag.config import RetrievalMode
from rag.ingest.documents import MAX_DOCUMENT_BYTES, SUPPORTED_SUFFIXES
from ui.access import ChatAccess
from ui.admin import add_admin_panel, users_table_html
from ui.answerer_choice import AnswererChoices
from ui.auth_views import account_bar, account_bar_html
from ui.controls import AnswerMemory, AnswerStreams, cut_back, wire_rating
from ui.conversations import add_sidebar, choices_update, list_after_answer, wire_sidebar
from ui.documents import document_picker, documents_view, header_markdown
from ui.examples import corpus_examples
from ui.page_assets import CSS, HEAD
from ui.pages import page_viewer
from ui.render import answer_html, answer_key, error_html, evidence_html, streaming_html
from ui.uploads import Uploads

__all__ = ["build_app", "launch"]

logger = logging.getLogger("rag.ui")  # under "rag", so the CLI shows its lines

EXAMPLES = [
    "Who signed the KT-Microsoft agreement, and where?",
    "When will KT reveal the details of the partnership?",
    "How many tokens was Mi:dm trained on?",
    "Which companies were invited to the Microsoft CEO summit?",
]


def build_app(bot: Bot, access: ChatAccess | None = None, answerers: Sequence[str] | None = None) -> gr.Blocks:
    """Build the chat page over ``bot`` (not launched).

    With ``access`` (given by the server) the page shows the signed-in user with sign-out, a sidebar of
    saved conversations, applies the user's rate limit, and offers uploads only to roles that may upload.
    ``answerers`` (``NAME`` or ``NAME:MODEL``) are what Settings offers besides the bot's own answerer, and
    nothing else can be chosen; None (the single-user page only) offers every backend and a model box.
    """
    choices = AnswererChoices(bot.settings, answerers, bot.answerer)
    show_page = page_viewer(bot)  # a PDF citation's page, rendered with the cited text highlighted
    memory = AnswerMemory()  # what each recent answer said, for its rating

    def respond(
        message: str,
        history: list[dict[str, Any]],
        top_k: int,
        hybrid: bool,
        backend: str,
        model: str,
        conversation_id: str | None,
        sources: list[str] | None,
        collection: str | None,
        request: gr.Request,
    ) -> Iterator[tuple[str, list[dict[str, Any]], str, str | None]]:
        history = _text_only(history)  # the chat never holds files: a message naming one is not echoed back
        if not (message or "").strip():
            gr.Info("Type a question about the documents first.")
            yield "", history, gr.skip(), conversation_id
            return
        viewer = access.viewer(request) if access else None
        refusal = access.admit_question(viewer) if access and viewer else None
        if access and (viewer is None or refusal):
            history.append({"role": "user", "content": message})
            history.append({"role": "assistant", "content": error_html(refusal or "Sign in again to ask.")})
            yield "", history, gr.skip(), conversation_id
            return
        name = collection or DEFAULT
        # The server's one access check picks the index searched; a collection the viewer may not read
        # reads as one that does not exist.
        target = access.open_collection(viewer, name, request) if access and viewer else bot
        if target is None:
            history.append({"role": "user", "content": message})
            history.append({"role": "assistant", "content": error_html(f"No collection named {name!r}.")})
            yield "", history, gr.skip(), conversation_id
            return
        if target is not bot:
            sources = None  # the document picker lists default's documents
        earlier = [{"role": t["role"], "content": _plain(t["content"])} for t in history]
        history.append({"role": "user", "content": message})
        yield "", history, gr.skip(), conversation_id  # the question shows (and leaves the box) at once
        mode: RetrievalMode = "hybrid" if hybrid else "dense"
        try:
            answerer = choices.build(backend, model)
        except rag.ConfigError as exc:
            history.append({"role": "assistant", "content": error_html(f"Cannot use {backend}: {exc}")})
            yield "", history, gr.skip(), conversation_id
            return
        try:
            stream = target.stream(
                message, k=int(top_k), retrieval=mode, history=earlier, answerer=answerer, sources=sources or None
            )
            pages = show_page if target is bot else page_viewer(target)
            history.append({"role": "assistant", "content": ""})
            text = ""
            for piece in stream:
                if isinstance(piece, Answer):
                    key = answer_key()
                    history[-1] = {"role": "assistant", "content": answer_html(piece, key)}
                    memory.keep(key, ask_json(piece))
                    if access and viewer:
                        conversation_id = access.save_turn(
                            viewer, conversation_id, message, history[-1]["content"], ask_json(piece), name
                        )
                    yield "", history, evidence_html(piece, key, pages), conversation_id
                else:
                    text += piece
                    history[-1] = {"role": "assistant", "content": streaming_html(text)}
                    yield "", history, gr.skip(), conversation_id
        except rag.QuestionError as exc:
            if history and history[-1]["role"] == "assistant":
                history.pop()
            history.append({"role": "assistant", "content": error_html(str(exc))})
            yield "", history, gr.skip(), conversation_id

    uploads = Uploads(bot, access)

    def default_readable(request: gr.Request) -> bool:
        viewer = access.viewer(request) if access else None
        return access is None or (viewer is not None and DEFAULT in access.collections(viewer))

    may_see_default = default_readable if access is not None else None

    # Gradio deletes files it received and no handler used (an upload never submitted) after an hour, and all
    # of them when the server stops.
    with gr.Blocks(title="rag: cited answers", analytics_enabled=False, delete_cache=(600, 3600)) as demo:
        sidebar = add_sidebar() if access else None
        conversation = sidebar.conversation if sidebar else gr.State(None)
        bar = account_bar() if access else None
        # With accounts, default's documents may be restricted: nothing of them is built into the page, which
        # fills header, picker and library on load for a viewer who may read default (see may_see_default).
        header = gr.Markdown(header_markdown(bot) if access is None else NEUTRAL_HEADER, elem_id="header")
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):
                # The collections the viewer may read (filled on load); hidden while there is only one.
                collection = gr.Dropdown(
                    [DEFAULT], value=DEFAULT, label="Collection", elem_id="collection", visible=False
                )
                # No floating "Chat" label: it sat over the messages as they scrolled under it.
                # Questions can be edited and resent; the last answer regenerated (ui.controls).
                chatbot = gr.Chatbot(
                    elem_id="chat", height=520, label="Chat", show_label=False, sanitize_html=True, editable="user"
                )
                question = gr.Textbox(
                    elem_id="question",
                    placeholder="Ask a question about the documents…",
                    show_label=False,
                    submit_btn=True,
                    max_lines=6,
                )
                if access:
                    wire_rating(access, chatbot, conversation, memory)
                with gr.Row():
                    clear = gr.Button("Clear chat", elem_id="clear", size="sm")
                picker = document_picker(bot, empty=access is not None)
                examples = corpus_examples(bot, EXAMPLES)
                if examples:
                    gr.Examples(examples, inputs=question, label="Examples")
            with gr.Column(scale=2):
                gr.Markdown("### Evidence")
                evidence = gr.HTML(evidence_html(None), elem_id="evidence")
                with gr.Accordion("Settings", open=False):
                    backend = gr.Dropdown(
                        choices.labels, value=choices.default_label, label="Answerer", elem_id="answerer"
                    )
                    model = gr.Textbox(  # only the single-user page lets the model be typed in
                        value=bot.settings.model or "",
                        label="LLM model",
                        placeholder="e.g. gpt-4o-mini or llama3.2 (LLM answerers only)",
                        elem_id="model",
                        visible=choices.free,
                    )
                    if choices.free:  # the models a local server has installed, to pick instead of typing
                        with gr.Row():
                            installed = gr.Dropdown(
                                [], label="Installed models (Ollama, OpenAI-compatible)", elem_id="installed-models"
                            )
                            list_models = gr.Button("List models", size="sm", elem_id="list-models")
                        list_models.click(
                            lambda: gr.Dropdown(choices=_installed_models(bot)),
                            None,
                            installed,
                            api_visibility="private",
                        )
                        installed.input(lambda chosen: chosen, installed, model, api_visibility="private")
                        # Which backends can answer is looked at again on every page load.
                        demo.load(
                            lambda: gr.Dropdown(choices=choices.refresh(), value=choices.default_label),
                            None,
                            backend,
                            api_visibility="private",
                        )
                    top_k = gr.Slider(1, 10, value=bot.settings.top_k, step=1, label="Passages to retrieve")
                    hybrid = gr.Checkbox(
                        value=bot.settings.retrieval == "hybrid", label="Hybrid retrieval (BM25 + embeddings)"
                    )
                # Hidden until the page knows the user may upload (the server refuses readers anyway).
                with gr.Accordion("Add documents", open=False, visible=access is None) as add_documents:
                    files = gr.File(
                        file_count="multiple",
                        file_types=list(SUPPORTED_SUFFIXES),
                        label="PDF, Word, HTML, .txt, .md or .rst",
                    )
                    upload_status = gr.Markdown(elem_id="upload-status")
                    uploads.component_cache = Path(files.GRADIO_CACHE)
                    # Shown only while an upload is being indexed.
                    stop_indexing = gr.Button("Cancel indexing", size="sm", elem_id="upload-cancel", visible=False)
                library = documents_view(
                    bot,
                    can_edit=True,
                    picker=picker,
                    editor_check=_editor_check(access) if access else None,
                    visible_to=may_see_default,
                )
                admin = add_admin_panel(access) if access else None
        # With accounts an answer's last update also refreshes the sidebar's list, filtered by its search box.
        search = sidebar.search if sidebar else gr.State("")
        settings = [top_k, hybrid, backend, model, conversation, picker, collection, search]
        shown = [question, chatbot, evidence, conversation, *(sidebar.after_answer if sidebar else [])]
        streams = AnswerStreams()

        def streamed(
            updates: Iterator[tuple[Any, ...]], started_in: str | None, query: str, request: gr.Request, *, clear: bool
        ) -> Iterator[tuple[Any, ...]]:
            """``respond``'s updates as the page shows them: the box's buttons, the sidebar with the last one."""
            after = None
            if access and sidebar:
                refresh = list_after_answer(access, access.viewer(request), started_in, query)

                def after(update: tuple[Any, ...] | None) -> tuple[Any, ...]:
                    return refresh(None if update is None else update[3], update is not None)

            return streams.run(request.session_hash, updates, clear=clear, after=after)

        def ask_streaming(
            message: str,
            history: list[dict[str, Any]],
            top_k: int,
            hybrid: bool,
            backend: str,
            model: str,
            conversation_id: str | None,
            sources: list[str] | None,
            collection: str | None,
            query: str,
            request: gr.Request,
        ) -> Iterator[tuple[Any, ...]]:
            updates = respond(
                message, history, top_k, hybrid, backend, model, conversation_id, sources, collection, request
            )
            yield from streamed(updates, conversation_id, query, request, clear=True)

        def regenerate(
            history: list[dict[str, Any]],
            top_k: int,
            hybrid: bool,
            backend: str,
            model: str,
            conversation_id: str | None,
            sources: list[str] | None,
            collection: str | None,
            query: str,
            retry: gr.RetryData,
            request: gr.Request,
        ) -> Iterator[tuple[Any, ...]]:
            turn = cut_back(history, retry.index if isinstance(retry.index, int) else retry.index[0])
            if turn is None:
                updates: Iterator[tuple[Any, ...]] = iter([(gr.skip(), history, gr.skip(), conversation_id)])
            else:
                message, before = turn
                updates = respond(
                    message, before, top_k, hybrid, backend, model, conversation_id, sources, collection, request
                )
            yield from streamed(updates, conversation_id, query, request, clear=False)

        def resend(
            history: list[dict[str, Any]],
            top_k: int,
            hybrid: bool,
            backend: str,
            model: str,
            conversation_id: str | None,
            sources: list[str] | None,
            collection: str | None,
            query: str,
            edit: gr.EditData,
            request: gr.Request,
        ) -> Iterator[tuple[Any, ...]]:
            index = edit.index if isinstance(edit.index, int) else edit.index[0]
            message = edit.value if isinstance(edit.value, str) else str(edit.value)
            updates = respond(
                message, history[:index], top_k, hybrid, backend, model, conversation_id, sources, collection, request
            )
            yield from streamed(updates, conversation_id, query, request, clear=False)

        # "always_last": a question sent while the previous answer's last step is still finishing is asked right
        # after it (Gradio's default, "once", dropped it without a word).
        question.submit(
            ask_streaming, [question, chatbot, *settings], shown, trigger_mode="always_last", api_visibility="private"
        )
        chatbot.retry(regenerate, [chatbot, *settings], shown, api_visibility="private")
        chatbot.edit(resend, [chatbot, *settings], shown, api_visibility="private")
        # Stop: the streaming answer ends itself, marked as stopped, with the send button back (AnswerStreams).
        question.stop(streams.stop, chatbot, [question, chatbot], show_progress="hidden", api_visibility="private")
        clear.click(
            lambda: ([], evidence_html(None), None), None, [chatbot, evidence, conversation], api_visibility="private"
        )
        # Not queued: it must run while the upload it stops holds the queue.
        stop_indexing.click(uploads.cancel, None, None, queue=False, api_visibility="private")

        def fill(request: gr.Request) -> tuple[Any, ...]:
            if may_see_default is not None and not may_see_default(request):
                return NEUTRAL_HEADER, gr.Dropdown(choices=[])
            return header_markdown(bot), gr.Dropdown(choices=bot.documents)

        demo.load(fill, None, [header, picker], api_visibility="private")
        if library.relist is not None:  # the Documents list and its count as of now, like the header
            demo.load(library.relist, [library.search], list(library.outputs), api_visibility="private")
        if access and sidebar and bar and admin:
            wire_sidebar(access, sidebar, chatbot, evidence, evidence_html(None))

            def on_load(request: gr.Request) -> tuple[Any, ...]:
                viewer = access.viewer(request)
                can_upload = bool(viewer and viewer.can_upload)
                is_admin = bool(viewer and viewer.signed_in and viewer.role == "admin")
                readable = access.collections(viewer) if viewer else []
                return (
                    gr.update(choices=readable, value=readable[0] if readable else None, visible=len(readable) > 1),
                    account_bar_html(viewer),
                    gr.update(visible=can_upload),
                    gr.update(visible=can_upload),
                    choices_update(access, viewer, None),
                    gr.update(visible=is_admin),
                    users_table_html(access.list_users(viewer)) if is_admin else "",
                )

            demo.load(
                on_load,
                None,
                [collection, bar, add_documents, library.editor, sidebar.choices, admin.accordion, admin.table],
                api_visibility="private",
            )
        # Clear the previous upload's result first, so it never shows under the new one's progress.
        # Cancel shows while the upload is indexed; afterwards the header and the Documents list show the new count.
        indexed = files.upload(
            lambda: ("", gr.update(visible=True)),
            None,
            [upload_status, stop_indexing],
            queue=False,
            api_visibility="private",
        ).then(uploads.upload, files, [upload_status, files], concurrency_limit=1, api_visibility="private")
        indexed.then(
            lambda: (gr.update(visible=False), header_markdown(bot)),
            None,
            [stop_indexing, header],
            api_visibility="private",
        )
        if library.relist is not None:
            indexed.then(library.relist, library.search, list(library.outputs), api_visibility="private")

        def ask(question: str, request: gr.Request) -> dict[str, Any]:
            """Answer a question; returns the same JSON object as ``rag ask --json``."""
            viewer = access.viewer(request) if access else None
            refusal = access.admit_question(viewer) if access and viewer else None
            if access and (viewer is None or refusal):
                raise gr.Error(refusal or "sign in first")
            target = access.open_collection(viewer, DEFAULT, request) if access and viewer else bot
            if target is None:
                raise gr.Error(f"no collection named {DEFAULT!r}")
            try:
                return ask_json(target.ask(question))
            except rag.QuestionError as exc:
                raise gr.Error(str(exc)) from None

        gr.api(ask, api_name="ask", queue=False)  # type: ignore[attr-defined]  # gradio 6 exports it without __all__
    demo.queue(default_concurrency_limit=bot.settings.chat_concurrency)
    blocks: gr.Blocks = demo
    return blocks


NEUTRAL_HEADER = (
    "## Ask the documents\nAnswers quote the documents and cite each passage as [n]; click a number to see the passage."
)


def _installed_models(bot: Bot) -> list[str]:
    """The models of the Ollama server and of the OpenAI-compatible server configured, if they answer."""
    found = [*ollama_models(bot.settings), *openai_models(bot.settings)]
    if not found:
        gr.Info("No Ollama or OpenAI-compatible server listed any model (is one running, and its address set?).")
    return list(dict.fromkeys(found))


def _editor_check(access: ChatAccess) -> Any:
    """The Documents view's check before a remove or re-index: editors only, audited either way."""

    def check(request: gr.Request, action: str, names: list[str]) -> str | None:
        refusal = access.editor_refusal(request, f"documents_{action}", files=names)
        if refusal is None:
            access.record(request, f"documents_{action}", files=names)
        return refusal

    return check


def _text_only(history: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """The chat's messages with their text only: file or component blocks a request slipped in are dropped."""
    kept = []
    for message in history or []:
        content = message.get("content")
        if isinstance(content, list):
            texts = [b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text"]
            content = "".join(str(t) for t in texts)
        if isinstance(content, str) and message.get("role") in {"user", "assistant"}:
            kept.append({"role": message["role"], "content": content})
    return kept


def _plain(content: Any) -> str:
    """The text of a chat message as the pipeline needs it for follow-ups: tags and entities removed.

    Gradio 6 returns messages as lists of content blocks (``[{"type": "text", "text": ...}]``). An answer's
    "Sources" block is passages, not what was said, and is left out.
    """
    if isinstance(content, list):
        text = " ".join(str(block.get("text", "")) for block in content if isinstance(block, dict))
    else:
        text = str(content)
    text = re.sub(r"<details\b.*?</details>", " ", text, flags=re.DOTALL)
    return html.unescape(re.sub(r"<[^>]+>", " ", text)).strip()


def launch(demo: gr.Blocks, host: str = "127.0.0.1", port: int = 7860, *, block: bool = True) -> None:
    """Start Gradio's own server on loopback, offline: no share link, no server-side rendering, built-in theme only.

    This page has no accounts, so it refuses any other address (``ui.exposure``, as every way of serving
    does); ``rag serve`` is the server for a network.

    Raises:
        ConfigError: ``host`` is not a loopback address.
    """
    from ui.exposure import check_exposure

    check_exposure(host, None, no_auth=False)
    os.environ.setdefault("GRADIO_TEMP_DIR", str(Path(tempfile.gettempdir()) / "rag-gradio"))
    demo.launch(
        server_name=host,
        server_port=port,
        share=False,
        ssr_mode=False,
        inbrowser=False,
        quiet=True,
        prevent_thread_lock=not block,
        show_error=True,
        footer_links=[],
        theme=gr.themes.Soft(),
        css=CSS,
        head=HEAD,
        max_file_size=MAX_DOCUMENT_BYTES,
    )


def _warm_up(bot: Bot) -> None:
    """Pay the one-time costs of a first question before a user does (0.69 s against 0.014 s after).

    Gradio asks matplotlib for its backend around every event, and the first time that imports pyplot
    (about 0.6 s); the first question also warms the embedding session and the retriever.
    """
    try:
        import matplotlib

        matplotlib.get_backend()
    except ImportError:
        pass  # without matplotlib, Gradio skips it too
    try:
        bot.ask(EXAMPLES[0])
    except rag.RagError as exc:  # the page still opens and shows the problem on the first question
        logger.warning("warming up the bot failed: %s", exc)
