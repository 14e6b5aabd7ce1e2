"""User text as messages may quote it, what no store accepts (NUL, lone surrogates), and tables for commands."""

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


def text_table(rows: list[dict], columns: list[tuple[str, str]]) -> list[str]:
    """A command's table as lines: `columns` are (key, title); a missing value is blank."""
    cells = [[str(row[key] if row[key] is not None else "") for key, _ in columns] for row in rows]
    widths = [max([len(title)] + [len(line[i]) for line in cells]) for i, (_, title) in enumerate(columns)]
    lines = ["  ".join(title.ljust(width) for (_, title), width in zip(columns, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * width for width in widths))
    lines += ["  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip() for line in cells]
    return lines
