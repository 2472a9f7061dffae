"""Small charts, drawn as SVG shapes computed here and printed by the templates.

A chart library would mean a script from elsewhere or a large bundle; the desk needs two shapes
(bars per day, a line of value against date), a few dozen lines. Only numbers and our own labels
reach the SVG; no archive text does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

WIDTH = 720
HEIGHT = 160
PAD = 24


@dataclass(frozen=True)
class Bar:
    series: int  # index of the series (its colour, by CSS class)
    x: float
    y: float
    width: float
    height: float
    label: str  # "2021-11-02: 5 posts"


def bar_chart(days: list[str], series: list[tuple[str, list[int]]]) -> dict[str, Any]:
    """Side-by-side bars per day for each named series (posts, alerts)."""
    top = max([1, *(v for _, values in series for v in values)])
    slot = (WIDTH - 2 * PAD) / max(1, len(days))
    width = max(1.0, slot / max(1, len(series)) - 0.5)
    bars = []
    for s, (name, values) in enumerate(series):
        for i, value in enumerate(values):
            if not value:
                continue
            height = (HEIGHT - 2 * PAD) * value / top
            x = PAD + i * slot + s * width
            bars.append(
                Bar(
                    s,
                    round(x, 1),
                    round(HEIGHT - PAD - height, 1),
                    round(width, 1),
                    round(height, 1),
                    f"{days[i]}: {value} {name}",
                )
            )
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "bars": bars,
        "top": top,
        "first": days[0] if days else "",
        "last": days[-1] if days else "",
        "names": [name for name, _ in series],
        "totals": [sum(values) for _, values in series],
        "base": HEIGHT - PAD,
        "pad": PAD,
    }


def line_chart(points: list[tuple[datetime, int]], deadline: datetime | None) -> dict[str, Any]:
    """Value against date, the deadline at the right edge (value 0)."""
    if not points:
        return {"width": WIDTH, "height": HEIGHT, "polyline": "", "dots": [], "top": 0}
    end = deadline if deadline is not None else points[-1][0]
    start = points[0][0]
    span = max(1.0, (end - start).total_seconds())
    top = max(1, *(v for _, v in points))

    def place(moment: datetime, value: int) -> tuple[float, float]:
        x = PAD + (WIDTH - 2 * PAD) * (moment - start).total_seconds() / span
        y = HEIGHT - PAD - (HEIGHT - 2 * PAD) * value / top
        return round(x, 1), round(y, 1)

    dots = [(*place(m, v), f"{m:%Y-%m-%d %H:%M}: {v}") for m, v in points]
    line = [f"{x},{y}" for x, y, _ in dots]
    if deadline is not None:
        x, y = place(deadline, 0)
        line.append(f"{x},{y}")
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "polyline": " ".join(line),
        "dots": dots,
        "top": top,
        "start": f"{start:%Y-%m-%d}",
        "end": f"{end:%Y-%m-%d %H:%M}",
        "base": HEIGHT - PAD,
        "pad": PAD,
    }
