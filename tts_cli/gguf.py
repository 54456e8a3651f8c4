"""Just enough of the GGUF format to check a file before llama.cpp loads it, and to count its
parameters.

Layout (little-endian): magic ``GGUF``, uint32 version, uint64 tensor_count, uint64 kv_count, then
kv_count entries (string key, uint32 type, value), then tensor_count tensor infos (string name,
uint32 n_dims, n_dims x uint64 dims, uint32 type, uint64 offset), then the tensor data, which starts
at the next multiple of ``general.alignment`` (default 32). A string is a uint64 length and that many
UTF-8 bytes. Every length read is bounded by the file size, so garbage fails fast.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterable, Optional, Set, Tuple, Union

from tts_cli.errors import ModelError

MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
HEADER_SIZE = 24
MAX_COUNT = 100_000
MAX_STRING = 64 * 1024 * 1024
MAX_ARRAY_DEPTH = 4
MAX_DIMS = 8
DEFAULT_ALIGNMENT = 32

# ggml tensor types -> (elements per block, bytes per block), as in gguf-py's GGML_QUANT_SIZES.
# A type missing here (a newer quantisation) skips the tensor-data size check: llama.cpp decides.
_GGML_BLOCKS: Dict[int, Tuple[int, int]] = {
    0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34), 9: (32, 36),
    10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210), 15: (256, 292),
    16: (256, 66), 17: (256, 74), 18: (256, 98), 19: (256, 50), 20: (32, 18), 21: (256, 110),
    22: (256, 82), 23: (256, 136), 24: (1, 1), 25: (1, 2), 26: (1, 4), 27: (1, 8), 28: (1, 8),
    29: (256, 56), 30: (1, 2), 34: (256, 54), 35: (256, 66), 39: (32, 17),
}

# GGUF value types -> struct format of one element (strings and arrays are handled apart).
_SCALARS: Dict[int, str] = {
    0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d",
}
_STRING = 8
_ARRAY = 9

PathLike = Union[str, Path]


@dataclass(frozen=True)
class GGUFHeader:
    version: int
    tensor_count: int
    kv_count: int


def read_gguf_header(path: PathLike) -> GGUFHeader:
    path = Path(path)
    data = _read_prefix(path, HEADER_SIZE)
    return _parse_header(path, data)


def validate_gguf(
    path: PathLike, expected_size: Optional[int] = None, *, check_data: bool = True
) -> GGUFHeader:
    """Raise ModelError unless ``path`` looks like a complete, loadable GGUF file.

    With ``check_data`` the metadata and tensor infos are parsed too, and the file must be long
    enough for the tensor data they declare (a truncated download or copy fails here, before
    llama.cpp maps it)."""
    path = Path(path)
    header = read_gguf_header(path)
    size = path.stat().st_size
    if expected_size is not None and size != expected_size:
        raise ModelError(f"{path}: {size} bytes, expected {expected_size} (incomplete or wrong file)")
    if header.tensor_count > MAX_COUNT:
        raise ModelError(f"{path}: corrupt GGUF header (tensor count {header.tensor_count})")
    if header.kv_count > MAX_COUNT:
        raise ModelError(f"{path}: corrupt GGUF header (metadata count {header.kv_count})")
    # Every tensor info and kv entry takes at least 12 bytes, so a file shorter than that is cut.
    if size < HEADER_SIZE + 12 * (header.tensor_count + header.kv_count):
        raise ModelError(f"{path}: truncated GGUF file ({size} bytes)")
    if check_data:
        needed = _tensor_data_end(path)
        if needed is not None and size < needed:
            raise ModelError(f"{path}: truncated GGUF file ({size} bytes; its tensors need {needed})")
    return header


def read_gguf_param_count(path: PathLike) -> int:
    """Total number of weights over all tensors (what llama.cpp reports as n_params)."""
    with _GGUFReader(Path(path)) as reader:
        reader.read_metadata(set())
        return sum(_product(dims) for _name, dims in reader.read_tensor_infos())


def _tensor_data_end(path: Path) -> Optional[int]:
    """The file size the tensor infos require; None when there are no tensors or a tensor type is
    unknown here."""
    with _GGUFReader(path) as reader:
        if reader.header.tensor_count == 0:
            return None
        metadata = reader.read_metadata({"general.alignment"})
        alignment = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
        if type(alignment) is not int or alignment <= 0 or alignment & (alignment - 1):
            raise reader.corrupt(f"general.alignment {alignment!r}")
        end = 0
        for name, dims, ggml_type, offset in reader.read_tensor_infos_full():
            block = _GGML_BLOCKS.get(ggml_type)
            if block is None:
                return None
            elements, block_bytes = block
            count = _product(dims)
            if count % elements:
                raise reader.corrupt(f"tensor {name!r} of {count} elements in blocks of {elements}")
            end = max(end, offset + count // elements * block_bytes)
        data_start = -(-reader.pos // alignment) * alignment
        return data_start + end


# ---------------------------------------------------------------------------------------------


def _read_prefix(path: Path, count: int) -> bytes:
    try:
        with path.open("rb") as handle:
            return handle.read(count)
    except FileNotFoundError:
        raise ModelError(f"model file not found: {path}") from None
    except IsADirectoryError:
        raise ModelError(f"{path}: is a directory, not a GGUF file") from None
    except OSError as exc:
        raise ModelError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _parse_header(path: Path, data: bytes) -> GGUFHeader:
    if len(data) < 4 or data[:4] != MAGIC:
        raise ModelError(f"{path}: not a GGUF file (bad magic {data[:4]!r})")
    if len(data) < HEADER_SIZE:
        raise ModelError(f"{path}: truncated GGUF file ({len(data)} bytes)")
    version, tensor_count, kv_count = struct.unpack_from("<IQQ", data, 4)
    if version not in SUPPORTED_VERSIONS:
        hint = " (big-endian file?)" if version > 0xFFFF else ""
        raise ModelError(f"{path}: unsupported GGUF version {version}{hint}; supported: 2, 3")
    return GGUFHeader(version=version, tensor_count=tensor_count, kv_count=kv_count)


def _product(dims: Tuple[int, ...]) -> int:
    total = 1
    for dim in dims:
        total *= dim
    return total


class _GGUFReader:
    """A bounds-checked cursor over a memory-mapped GGUF file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.header = validate_gguf(path, check_data=False)
        self._file = path.open("rb")
        try:
            self._map = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError) as exc:
            self._file.close()
            raise ModelError(f"{path}: cannot map file: {exc}") from None
        self.pos = HEADER_SIZE

    def __enter__(self) -> "_GGUFReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self._map.close()
        self._file.close()

    def corrupt(self, what: str) -> ModelError:
        return ModelError(f"{self.path}: corrupt GGUF metadata ({what} at byte {self.pos})")

    def take(self, count: int) -> int:
        """Advance over ``count`` bytes; return where they start."""
        if count < 0 or self.pos + count > len(self._map):
            raise self.corrupt("data runs past the end of the file")
        start = self.pos
        self.pos += count
        return start

    def unpack(self, fmt: str) -> Any:
        start = self.take(struct.calcsize(fmt))
        return struct.unpack_from(fmt, self._map, start)[0]

    def string(self, keep: bool = True) -> Optional[str]:
        length = self.unpack("<Q")
        if length > MAX_STRING:
            raise self.corrupt(f"string of {length} bytes")
        start = self.take(length)
        if not keep:
            return None
        try:
            return bytes(self._map[start : start + length]).decode("utf-8")
        except UnicodeDecodeError:
            raise self.corrupt("invalid UTF-8") from None

    def value(self, kind: int, keep: bool, depth: int = 0) -> Any:
        if kind in _SCALARS:
            return self.unpack(_SCALARS[kind])
        if kind == _STRING:
            return self.string(keep)
        if kind == _ARRAY:
            return self.array(keep, depth)
        raise self.corrupt(f"unknown value type {kind}")

    def array(self, keep: bool, depth: int) -> Any:
        if depth >= MAX_ARRAY_DEPTH:
            raise self.corrupt("arrays nested too deep")
        kind = self.unpack("<I")
        count = self.unpack("<Q")
        if count > len(self._map):  # every element takes at least one byte
            raise self.corrupt(f"array of {count} elements")
        if kind in _SCALARS and not keep:
            self.take(struct.calcsize(_SCALARS[kind]) * count)
            return None
        if kind == _STRING and not keep:
            self._skip_strings(count)
            return None
        if not keep:
            for _ in range(count):
                self.value(kind, False, depth + 1)
            return None
        return [self.value(kind, True, depth + 1) for _ in range(count)]

    def _skip_strings(self, count: int) -> None:
        """Skip ``count`` strings (a tokenizer's vocabulary: the hot loop of a full parse)."""
        pos, end, data = self.pos, len(self._map), self._map
        for _ in range(count):
            if pos + 8 > end:
                break
            (length,) = struct.unpack_from("<Q", data, pos)
            if length > MAX_STRING or pos + 8 + length > end:
                break
            pos += 8 + length
        else:
            self.pos = pos
            return
        self.pos = pos
        self.string(keep=False)  # raises the usual error at the bad string

    def read_metadata(self, wanted: Set[str]) -> Dict[str, Any]:
        """The values of the ``wanted`` keys; every other value is parsed only to be skipped."""
        found: Dict[str, Any] = {}
        for _ in range(self.header.kv_count):
            key = self.string()
            assert key is not None
            kind = self.unpack("<I")
            keep = key in wanted
            value = self.value(kind, keep)
            if keep:
                found[key] = value
        return found

    def read_tensor_infos(self) -> Iterable[Tuple[str, Tuple[int, ...]]]:
        for name, dims, _type, _offset in self.read_tensor_infos_full():
            yield name, dims

    def read_tensor_infos_full(self) -> Iterable[Tuple[str, Tuple[int, ...], int, int]]:
        """(name, dims, ggml type, data offset) of every tensor."""
        for _ in range(self.header.tensor_count):
            name = self.string()
            n_dims = self.unpack("<I")
            if n_dims > MAX_DIMS:
                raise self.corrupt(f"tensor with {n_dims} dimensions")
            dims = tuple(self.unpack("<Q") for _ in range(n_dims))
            ggml_type = self.unpack("<I")
            offset = self.unpack("<Q")
            yield str(name), dims, ggml_type, offset
