"""Identifiers."""

from __future__ import annotations

import os
import time
import uuid


def uuid7() -> uuid.UUID:
    """A time-ordered UUID (RFC 9562 version 7): 48 bits of Unix milliseconds, then 74 random bits.

    For ids indexed at a high insert rate (API call tokens): new keys land at the right edge of the
    B-tree instead of on a random leaf, which after each checkpoint would cost a full-page image in the WAL.
    Still unguessable (74 bits from the OS's CSPRNG); it tells when it was made, which its row says anyway.
    """
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10)) & ((1 << 80) - 1)
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122/9562 variant
    return uuid.UUID(int=value)
