"""Template sources: what Django would print instead of hiding."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.portable

ROOT = Path(__file__).resolve().parents[2]


def test_no_template_comment_spans_lines():
    """`{# … #}` is one line only: across lines Django prints it on the page (use `{% comment %}`)."""
    spanning = [
        f"{path.relative_to(ROOT)}:{source.count(chr(10), 0, match.start()) + 1}"
        for path in sorted((ROOT / "templates").rglob("*.html"))
        for source in [path.read_text()]
        for match in re.finditer(r"\{#(.*?)#\}", source, re.S)
        if "\n" in match.group(1)
    ]
    assert spanning == []
