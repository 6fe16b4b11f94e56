"""HWP 5 distribution documents (배포용 문서): their `ViewText/SectionN` streams decrypted.

As the HWP 5.0 format specification describes it, such a stream starts with one
`HWPTAG_DISTRIBUTE_DOC_DATA` record of 256 bytes. Its first four bytes seed the Microsoft C
runtime's `srand`/`rand` sequence, which XOR-scrambles the rest of the record; inside the
unscrambled record, 16 bytes at offset `4 + (seed & 0xF)` are the AES-128 key. Everything after
the record is AES-128-ECB encrypted; once decrypted it is an ordinary (compressed) section stream.
"""

from __future__ import annotations

import struct

from core.errors import EncryptedDocument, MalformedDocument

TAG_DISTRIBUTE_DOC_DATA = 0x10 + 12
RECORD_SIZE = 256
_HEADER = struct.Struct("<I")
_BLOCK = 16


def msvc_rand(seed: int) -> tuple[int, int]:
    """One step of the MS C runtime `rand()`: the next seed and the 15-bit value it returns."""
    seed = (seed * 214013 + 2531011) & 0xFFFFFFFF
    return seed, (seed >> 16) & 0x7FFF


def scramble(record: bytes) -> bytes:
    """The 256-byte record XOR-ed with its own seed's key stream; applying it twice gives it back."""
    if len(record) != RECORD_SIZE:
        raise MalformedDocument(f"the HWP distribution record has {len(record)} bytes, not {RECORD_SIZE}")
    data = bytearray(record)
    (seed,) = struct.unpack_from("<I", data, 0)
    key = run = 0
    for i in range(RECORD_SIZE):
        if run == 0:  # a new key byte, used for the next 1 to 16 bytes
            seed, value = msvc_rand(seed)
            key = value & 0xFF
            seed, value = msvc_rand(seed)
            run = (value & 0xF) + 1
        if i >= 4:
            data[i] ^= key
        run -= 1
    return bytes(data)


def aes_key(record: bytes) -> bytes:
    """The AES-128 key kept inside a (scrambled) distribution record."""
    plain = scramble(record)
    offset = 4 + (plain[0] & 0xF)
    return plain[offset : offset + 16]


def record_header(size: int = RECORD_SIZE) -> bytes:
    """The record header of a `HWPTAG_DISTRIBUTE_DOC_DATA` record of `size` bytes at level 0."""
    return _HEADER.pack(TAG_DISTRIBUTE_DOC_DATA | size << 20)


def decrypt_stream(stream: bytes) -> bytes:
    """The section stream inside one `ViewText` stream, still compressed when the file says so."""
    if len(stream) < 4 + RECORD_SIZE:
        raise MalformedDocument("the HWP distribution section is too short to hold its key record")
    (header,) = _HEADER.unpack_from(stream, 0)
    if header & 0x3FF != TAG_DISTRIBUTE_DOC_DATA or header >> 20 != RECORD_SIZE:
        raise MalformedDocument("the HWP distribution section does not start with its key record")
    try:
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    except ImportError as exc:  # pragma: no cover - cryptography is a locked dependency
        raise EncryptedDocument(
            "HWP distribution document: decrypting it needs the 'cryptography' package, "
            "which is not installed"
        ) from exc
    key = aes_key(stream[4 : 4 + RECORD_SIZE])
    body = stream[4 + RECORD_SIZE :]
    body = body[: len(body) - len(body) % _BLOCK]  # a partial last block carries nothing
    decryptor = Cipher(algorithms.AES(key), modes.ECB()).decryptor()  # noqa: S305 - the format's cipher
    return decryptor.update(body) + decryptor.finalize()
