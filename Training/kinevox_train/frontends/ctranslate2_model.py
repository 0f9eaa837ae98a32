"""Reads a CTranslate2 `model.bin` with numpy alone (the layout CTranslate2 4.x writes, binary version 6).

Layout, all little-endian: uint32 binary version; the spec name and uint32 spec revision; uint32 variable count;
per variable its name, uint8 rank, rank × uint32 dims, uint8 dtype, uint32 byte count and the bytes; then
uint32 alias count and (alias, target) name pairs. A name is a uint16 length (NUL included) and its bytes.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

SUPPORTED_BINARY_VERSION = 6
# CTranslate2's DataType enumeration, as stored in a variable's dtype byte.
DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}
DTYPE_NAMES = {0: "float32", 1: "int8", 2: "int16", 3: "int32", 4: "float16", 5: "bfloat16"}


class CTranslate2ModelError(ValueError):
    """A model.bin this reader does not understand; the message names what was found."""


class TruncatedModelError(CTranslate2ModelError):
    """The file ends inside a header field or a variable's data."""


@dataclass
class CTranslate2Model:
    spec: str
    revision: int
    variables: dict[str, np.ndarray]
    aliases: dict[str, str]


class _Cursor:
    def __init__(self, data: bytes, source: str):
        self.data, self.offset, self.source = data, 0, source

    def take(self, count: int, what: str) -> bytes:
        end = self.offset + count
        if end > len(self.data):
            raise TruncatedModelError(f"{self.source}: truncated: {what} needs bytes {self.offset}..{end}, "
                                      f"the file has {len(self.data)}")
        chunk = self.data[self.offset:end]
        self.offset = end
        return chunk

    def unpack(self, fmt: str, what: str):
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), what))

    def name(self, what: str) -> str:
        (length,) = self.unpack("H", what)
        raw = self.take(length, what)
        if length == 0 or raw[-1] != 0:
            raise CTranslate2ModelError(f"{self.source}: {what} at byte {self.offset - length} is not a NUL-terminated name")
        return raw[:-1].decode("utf-8", errors="replace")


def read_model(data: bytes, source: str = "model.bin") -> CTranslate2Model:
    """Parses the bytes of a model.bin. Raises `CTranslate2ModelError` (or `TruncatedModelError`)."""
    cursor = _Cursor(data, source)
    (version,) = cursor.unpack("I", "binary version")
    if version != SUPPORTED_BINARY_VERSION:
        raise CTranslate2ModelError(f"{source}: CTranslate2 binary version {version}; this reader knows version "
                                    f"{SUPPORTED_BINARY_VERSION} only (is it a model.bin at all?)")
    spec = cursor.name("spec name")
    (revision,) = cursor.unpack("I", "spec revision")
    (count,) = cursor.unpack("I", "variable count")
    variables = {}
    for _ in range(count):
        name = cursor.name("variable name")
        (rank,) = cursor.unpack("B", f"rank of {name}")
        dims = cursor.unpack(f"{rank}I", f"shape of {name}") if rank else ()
        dtype_code, nbytes = cursor.unpack("BI", f"dtype of {name}")
        if dtype_code not in DTYPES:
            raise CTranslate2ModelError(f"{source}: variable {name} has dtype "
                                        f"{DTYPE_NAMES.get(dtype_code, f'code {dtype_code}')}, not supported")
        dtype = np.dtype(DTYPES[dtype_code]).newbyteorder("<")
        expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
        if nbytes != expected:
            raise CTranslate2ModelError(f"{source}: variable {name} of shape {list(dims)} {dtype.name} declares "
                                        f"{nbytes} bytes, expected {expected}")
        raw = cursor.take(nbytes, f"data of {name}")
        variables[name] = np.frombuffer(raw, dtype=dtype).reshape(dims)
    (alias_count,) = cursor.unpack("I", "alias count")
    aliases = {}
    for _ in range(alias_count):
        alias = cursor.name("alias name")
        aliases[alias] = cursor.name(f"target of alias {alias}")
    if cursor.offset != len(data):
        raise CTranslate2ModelError(f"{source}: {len(data) - cursor.offset} bytes after the last alias")
    return CTranslate2Model(spec, revision, variables, aliases)
