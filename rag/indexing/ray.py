"""Embedding with Ray: ``rag index --ray [ADDRESS]`` spreads the model over a pool of actors.

Embedding is the slow part of indexing (about 20 chunks/s per two cores), so a big corpus is embedded on a
Ray cluster: Ray Data splits the chunks into batches and runs ``map_batches`` over an actor pool, each actor
loading the model once and embedding many batches. Everything else (reading, chunking, the refresh check,
writing the index, FAISS or Postgres) stays in the driver, unchanged: ``RayEmbedder`` is an ``Embedder``
whose ``encode_with_spans`` runs on the cluster, so the index is the same as a single-process build (each
actor runs the same model on the same backend; vectors agree to 1e-5).

Without an address, Ray starts locally (``ray.init(num_cpus=...)``, no dashboard, usage stats off, the node
address pinned to 127.0.0.1 so that Ray does not look up a public IP). Starting Ray costs about 5 s and
670 MB here, so it is used only when asked.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rag.config import Settings
from rag.embeddings import Embedder, Spans, Vectors, _progress_bar, embedder_for, get_embedder
from rag.errors import ConfigError

__all__ = ["RayEmbedder", "index_with_ray", "ray_session"]

logger = logging.getLogger(__name__)

BATCH_SIZE = 64  # chunks per map_batches call: big enough to amortize the hop, small enough to spread


@contextmanager
def ray_session(
    address: str | None = None, num_cpus: int | None = None, temp_dir: Path | None = None
) -> Iterator[None]:
    """Connect to the Ray cluster at ``address``, or start one on this machine; shut it down afterwards.

    A Ray already initialised in this process (a notebook's, a test's) is used as it is and left running.

    Raises:
        ConfigError: Ray is not installed, or the cluster cannot be reached.
    """
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        import ray
    except ImportError as exc:
        raise ConfigError(f"rag index --ray needs Ray ({exc}); run: pip install 'rag[ray]'") from None
    if ray.is_initialized():
        yield
        return
    try:
        if address:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
        else:
            ray.init(
                num_cpus=num_cpus or os.cpu_count() or 1,
                include_dashboard=False,
                _node_ip_address="127.0.0.1",
                _temp_dir=str(temp_dir) if temp_dir is not None else None,
                log_to_driver=False,
                configure_logging=False,
            )
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ConfigError(f"cannot start or reach Ray{f' at {address}' if address else ''}: {exc}") from None
    try:
        yield
    finally:
        ray.shutdown()


class _EmbedActor:
    """One Ray actor: loads the model once, then embeds batch after batch."""

    def __init__(self, name: str, backend: str, device: str, cache_dir: str | None) -> None:
        self.embedder = get_embedder(
            name,
            backend="torch" if backend == "torch" else "onnx",
            device=device,
            cache_dir=Path(cache_dir) if cache_dir else None,
        )

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        texts = [str(t) for t in batch["text"]]
        spans = [[(int(a), int(b)) for a, b in json.loads(str(s))] for s in batch["spans"]]
        vectors, pooled = self.embedder.encode_with_spans(texts, spans)
        counts = [len(s) for s in spans]
        bounds = np.cumsum([0, *counts])
        return {
            "i": np.asarray(batch["i"], dtype=np.int64),
            "vector": [np.asarray(v, dtype=np.float32).tobytes() for v in vectors],
            "pooled": [np.asarray(pooled[a:b], dtype=np.float32).tobytes() for a, b in itertools.pairwise(bounds)],
        }


@dataclass(frozen=True)
class RayEmbedder(Embedder):
    """An ``Embedder`` whose passage embedding (``encode_with_spans``) runs on Ray actors.

    Questions (``encode_one``) and plain ``encode`` still run in this process. Use inside ``ray_session``.

    Attributes:
        actors: Actors in the pool (each loads the model once).
        device: Torch device of the actors' model.
        cache_dir: Where the actors find the ONNX export (the driver's own cache).
    """

    actors: int = 2
    device: str = "cpu"
    cache_dir: str | None = None

    @classmethod
    def wrapping(
        cls, embedder: Embedder, actors: int, device: str = "cpu", cache_dir: Path | None = None
    ) -> RayEmbedder:
        """The Ray version of ``embedder`` (same name, dimension and backend, so the index sees no change)."""
        fields = {f.name: getattr(embedder, f.name) for f in dataclasses.fields(Embedder)}
        return cls(**fields, actors=actors, device=device, cache_dir=str(cache_dir) if cache_dir else None)

    def encode_with_spans(
        self, texts: Sequence[str], spans: Sequence[Spans], *, progress: bool = False, desc: str = "Embedding"
    ) -> tuple[Vectors, Vectors]:
        """``Embedder.encode_with_spans``, with the model run by Ray Data over an actor pool."""
        import ray.data

        if len(texts) != len(spans):
            raise ValueError("texts and spans must have the same length")
        dimension = self.dimension
        if not texts:
            return np.zeros((0, dimension), dtype=np.float32), np.zeros((0, dimension), dtype=np.float32)
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # ours below moves as batches come back
        # Batches of texts of about the same length: each batch pads less (the order is restored below).
        order = sorted(range(len(texts)), key=lambda n: len(texts[n]))
        items = [{"i": n, "text": texts[n], "spans": json.dumps([list(p) for p in spans[n]])} for n in order]
        dataset = ray.data.from_items(
            items, override_num_blocks=min(len(items), max(self.actors, -(-len(items) // BATCH_SIZE)))
        ).map_batches(
            _EmbedActor,
            fn_constructor_kwargs={
                "name": self.name,
                "backend": self.backend,
                "device": self.device,
                "cache_dir": self.cache_dir,
            },
            batch_size=BATCH_SIZE,
            compute=ray.data.ActorPoolStrategy(size=self.actors),
            num_cpus=1,
            batch_format="numpy",
        )
        vectors = np.zeros((len(texts), dimension), dtype=np.float32)
        pooled: list[np.ndarray | None] = [None] * len(texts)
        bar = _progress_bar(len(texts), f"{desc} on Ray ({self.actors} actors)") if progress else None
        for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
            for i, vector, spans_blob in zip(batch["i"], batch["vector"], batch["pooled"], strict=True):
                vectors[int(i)] = np.frombuffer(vector, dtype=np.float32)
                pooled[int(i)] = np.frombuffer(spans_blob, dtype=np.float32).reshape(-1, dimension)
            if bar is not None:
                bar.update(len(batch["i"]))
        if bar is not None:
            bar.close()
        missing = [i for i, p in enumerate(pooled) if p is None]
        if missing:
            raise RuntimeError(f"Ray returned no vectors for {len(missing)} chunk(s)")
        span_vectors = np.vstack([p for p in pooled if p is not None])
        return np.ascontiguousarray(vectors), np.ascontiguousarray(span_vectors, dtype=np.float32)


def index_with_ray(
    settings: Settings,
    address: str | None = None,
    *,
    rebuild: bool = False,
    progress: bool = True,
    actors: int | None = None,
    temp_dir: Path | None = None,
) -> Any:
    """``rag index`` with the embedding on Ray: returns ``(store, report)`` like ``rag.indexing.sync.sync_store``.

    ``actors`` defaults to the CPUs of a local Ray, or of the cluster at ``address``.
    """
    from rag.indexing.sync import sync_store

    embedder = embedder_for(settings)
    with ray_session(address, num_cpus=actors, temp_dir=temp_dir):
        import ray

        resources: dict[str, float] = ray.cluster_resources()  # type: ignore[no-untyped-call]
        pool = actors or max(1, int(resources.get("CPU", 1)))
        logger.info("embedding on Ray with %d actor(s)", pool)
        wrapped = RayEmbedder.wrapping(embedder, pool, settings.device, settings.cache_dir)
        return sync_store(settings, wrapped, rebuild=rebuild, progress=progress)
