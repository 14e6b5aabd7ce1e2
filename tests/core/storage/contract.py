"""What every transport kind must do, checked the same way against each real server."""

from __future__ import annotations

import hashlib
import io
import tracemalloc
import uuid

from batchhub.core.storage.base import Transport

MB = 1024 * 1024


class GeneratedStream(io.RawIOBase):
    """`size` deterministic bytes produced as they are read (never held whole), with their sha256."""

    def __init__(self, size: int, seed: bytes = b"batchhub") -> None:
        self.size, self.position = size, 0
        self._block = hashlib.sha256(seed).digest() * 2048  # 64 KiB pattern
        self.sha256 = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = min(len(buffer), self.size - self.position, len(self._block))
        if count <= 0:
            return 0
        offset = self.position % len(self._block)
        chunk = (self._block[offset:] + self._block[:offset])[:count]
        buffer[:count] = chunk
        self.sha256.update(chunk)
        self.position += count
        return count


def unique_name(suffix: str = ".csv") -> str:
    return f"contract/{uuid.uuid4().hex}{suffix}"


def check_write_list_read(transport: Transport) -> None:
    name = unique_name()
    written = transport.write(name, io.BytesIO(b"a;b;c\n1;2;3\n"))
    assert written == 12
    listed = {item.name: item for item in transport.list("contract/*.csv")}
    assert listed[name].size == 12
    assert listed[name].modified_at is not None and listed[name].modified_at.tzinfo is not None
    with transport.open_read(name) as stream:
        assert stream.read() == b"a;b;c\n1;2;3\n"
    transport.write(name, io.BytesIO(b"replaced\n"))  # an existing file is replaced
    with transport.open_read(name) as stream:
        assert stream.read() == b"replaced\n"
    transport.delete(name)
    assert name not in {item.name for item in transport.list("contract/*")}


def check_move(transport: Transport) -> None:
    name, to = unique_name(), unique_name(".done")
    transport.write(name, io.BytesIO(b"x\n"))
    transport.move(name, to)
    names = {item.name for item in transport.list("contract/*")}
    assert to in names and name not in names
    with transport.open_read(to) as stream:
        assert stream.read() == b"x\n"
    transport.delete(to)


def check_large_streamed(transport: Transport, size: int = 50 * MB, bound: int = 24 * MB) -> None:
    """Writes and reads back `size` bytes through the transport with Python's allocations bounded by `bound`."""
    name = unique_name(".bin")
    source = GeneratedStream(size)
    tracemalloc.start()
    try:
        assert transport.write(name, source) == size
        _, peak_write = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        digest, total = hashlib.sha256(), 0
        with transport.open_read(name) as stream:
            while chunk := stream.read(256 * 1024):
                digest.update(chunk)
                total += len(chunk)
        _, peak_read = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == size
    assert digest.hexdigest() == source.sha256.hexdigest()
    assert peak_write < bound, f"write peaked at {peak_write / MB:.1f} MB"
    assert peak_read < bound, f"read peaked at {peak_read / MB:.1f} MB"
    transport.delete(name)


def check_list_by_segments(transport: Transport) -> None:
    """`list` matches a pattern segment by segment on every kind: `*`, `?` and `[...]` never match a `/`, and a
    pattern with n segments lists files n levels down. The names carry a unique token, so that what other tests
    left on a shared server does not count."""
    token = uuid.uuid4().hex[:12]
    top, processed, deeper = f"a-{token}.csv", f"processed/b-{token}.csv", f"sub/deeper/c-{token}.csv"
    for name in (top, processed, deeper):
        transport.write(name, io.BytesIO(b"x\n"))
    ours = {top, processed, deeper}

    def listed(pattern: str, *, only_ours: bool = False) -> list[str]:
        names = [item.name for item in transport.list(pattern)]
        return [name for name in names if name in ours] if only_ours else names

    try:
        assert listed("*.csv", only_ours=True) == [top]
        assert listed("processed/*.csv", only_ours=True) == [processed]
        assert listed("*/*.csv", only_ours=True) == [processed]
        assert listed(f"*-{token}.csv") == [top]
        assert listed(f"?-{token}.csv") == [top]
        assert listed(f"processed/*-{token}.csv") == [processed]
        assert listed(f"*/*-{token}.csv") == [processed]
        assert listed(f"*/[b-z]-{token}.csv") == [processed]
        assert listed(f"sub/*-{token}.csv") == []
        assert listed(f"sub/*/*-{token}.csv") == [deeper]
        assert listed(f"*/*/*-{token}.csv") == [deeper]
        assert listed(f"sub/deeper/c-{token}.csv") == [deeper]
    finally:
        for name in (top, processed, deeper):
            transport.delete(name)
