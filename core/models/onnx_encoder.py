"""Run a pooled, normalised sentence encoder exported to ONNX (see `core.models.e5_convert`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from core.offline import disable_phone_home


class OnnxEncoder:
    """`model.onnx` + `tokenizer.json` + `config.json`: texts in, unit vectors out.

    Batches are formed from texts of similar length, so little time goes into padding.
    """

    def __init__(self, folder: Path, threads: int = 0, batch_size: int = 16) -> None:
        disable_phone_home()  # ONNX Runtime starts its telemetry uploader when first imported
        import onnxruntime as ort
        from tokenizers import Tokenizer

        config = json.loads((folder / "config.json").read_text())
        self.dimension = int(config["dimension"])
        self.max_tokens = int(config["max_tokens"])
        self._pad = int(config["pad_id"])
        self._tokenizer: Any = Tokenizer.from_file(str(folder / "tokenizer.json"))
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self._session: Any = ort.InferenceSession(
            str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"]
        )
        self._batch_size = batch_size

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` without the special tokens (before truncation)."""
        self._tokenizer.no_truncation()
        try:
            return len(self._tokenizer.encode(text, add_special_tokens=False).ids)
        finally:
            self._tokenizer.enable_truncation(self.max_tokens)

    def encode(self, texts: Sequence[str]) -> list[list[float]]:
        """One unit vector per text, in order."""
        if not texts:
            return []
        encodings = self._tokenizer.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(order), self._batch_size):
            rows = order[start : start + self._batch_size]
            width = max(len(encodings[i].ids) for i in rows)
            ids = np.full((len(rows), width), self._pad, dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                n = len(encodings[i].ids)
                ids[r, :n] = encodings[i].ids
                mask[r, :n] = 1
            out[rows] = self._session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        return [list(map(float, v)) for v in out]
