"""User text as messages may quote it, and what no store accepts (NUL, lone surrogates)."""

from __future__ import annotations

import json


def shown(text: str, limit: int = 60) -> str:
    """User text as an error message may quote it: control characters, quotes, backslashes and lone surrogates
    escaped, cut."""
    cut = json.dumps(text[:limit], ensure_ascii=False)[1:-1]
    cut = cut.encode("utf-8", "backslashreplace").decode("utf-8")  # a lone surrogate cannot be stored as is
    return cut + ("…" if len(text) > limit else "")


def text_fault(text: str) -> str | None:
    """Why `text` cannot be stored (a NUL, a lone surrogate), or None."""
    if "\x00" in text:
        return "a NUL character (\\u0000)"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "an unpaired UTF-16 surrogate"
    return None
