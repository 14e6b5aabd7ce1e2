"""What the charts drawn on the server (SVG, no script) share."""

from __future__ import annotations

import math


def nice_ceiling(value: int) -> int:
    """The top of a y axis holding `value`: 5 at least, else the next 1, 2, 2.5 or 5 times a power of ten."""
    if value <= 5:
        return 5
    power = 10 ** math.floor(math.log10(value))
    return next(int(step * power) for step in (1, 2, 2.5, 5, 10) if step * power >= value)
