"""The pieces of the HTML report pages that know nothing of reports: escaping, money and compact amounts, the
aging-bucket palette and labels, and the inline-SVG stacked bar chart with its legend (:mod:`pipelines.html_report`
puts them together).

Money is formatted from :class:`decimal.Decimal` (never through a float); floats are used only for SVG geometry.
Every text is HTML-escaped.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from math import ceil

import pyarrow as pa

ZERO = Decimal(0)
_STOPS = ("#2e7d32", "#7cb342", "#f0b41e", "#ef6c00", "#c62828")  # green → red, current → oldest, evenly spaced
SOURCE_COLOURS = ("#34518c", "#2a9d8f", "#8e6cc1", "#6b7f94", "#c26d8f", "#8a9a3b")  # not traffic-light colours


def esc(value: object) -> str:
    """``value`` as text safe in HTML content and in double-quoted attributes."""
    return html.escape("" if value is None else str(value), quote=True)


def money(value: Decimal | int | None) -> str:
    """``1234567.8`` → ``"1,234,567.80"``; ``None`` → ``""``. Decimal or int only (a float is refused)."""
    if value is None:
        return ""
    return f"{to_decimal(value):,.2f}"


def to_decimal(value: object) -> Decimal:
    """A report cell as a :class:`Decimal` (None as 0). Raises TypeError for anything else (a float above all)."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    if value is None:
        return ZERO
    raise TypeError(f"money must be decimal (or integer), got {type(value).__name__} {value!r}")


def compact(value: Decimal) -> str:
    """A short axis label: ``2500000`` → ``"2.5M"``, ``12000`` → ``"12k"``, ``250`` → ``"250"``."""
    for size, suffix in ((Decimal(10) ** 9, "B"), (Decimal(10) ** 6, "M"), (Decimal(10) ** 3, "k")):
        if abs(value) >= size:
            return f"{(value / size).quantize(Decimal('0.1')).normalize():f}{suffix}"
    return f"{value.quantize(Decimal('0.01')).normalize():f}"


@dataclass(frozen=True)
class Series:
    """One kind of stacked segment in a chart (a source system, an aging bucket): its ``name`` and ``colour``."""

    name: str
    colour: str


@dataclass(frozen=True)
class Bucket(Series):
    """An aging bucket: display ``name`` (``1–30``), ``colour`` and its summary ``column`` (``bucket_1_30``)."""

    column: str = ""


def bucket_label(column: str) -> str:
    """``bucket_current`` → ``Current``, ``bucket_1_30`` → ``1–30``, ``bucket_91_plus`` → ``91+``."""
    parts = column.removeprefix("bucket_").split("_")
    if parts == ["current"]:
        return "Current"
    if len(parts) == 2 and parts[0].isdigit() and parts[1] == "plus":
        return f"{parts[0]}+"
    if len(parts) == 2 and all(p.isdigit() for p in parts):
        return f"{parts[0]}–{parts[1]}"
    return " ".join(parts).capitalize()


def bucket_column(name: str) -> str:
    """A detail/trend ``aging_bucket`` value as its summary column: ``1-30`` → ``bucket_1_30``, ``91+`` →
    ``bucket_91_plus``; a column name is returned as it is."""
    if name.startswith("bucket_"):
        return name
    return "bucket_" + name.strip().lower().replace("+", "_plus").replace("-", "_").replace("–", "_")


def bucket_colours(count: int) -> list[str]:
    """``count`` colours from green (current) to red (oldest), as ``#rrggbb``, interpolated along :data:`_STOPS`."""
    rgb = [tuple(int(c[i : i + 2], 16) for i in (1, 3, 5)) for c in _STOPS]
    out = []
    for i in range(count):
        t = (len(rgb) - 1) * i / (count - 1) if count > 1 else 0.0
        k = min(int(t), len(rgb) - 2)
        out.append(
            "#" + "".join(f"{round(a + (b - a) * (t - k)):02x}" for a, b in zip(rgb[k], rgb[k + 1], strict=True))
        )
    return out


def buckets_of(summary: pa.Table) -> list[Bucket]:
    """The ``bucket_*`` columns of ``summary``, in table order, with labels and colours."""
    columns = [c for c in summary.column_names if c.startswith("bucket_")]
    return [Bucket(bucket_label(c), colour, c) for c, colour in zip(columns, bucket_colours(len(columns)), strict=True)]


# --- charts --------------------------------------------------------------------------------------------------


def _ticks(top: Decimal, count: int = 5) -> list[Decimal]:
    """Round axis ticks from 0 to at least ``top`` with a 1/2/2.5/5 × 10ⁿ step."""
    if top <= 0:
        return [ZERO, Decimal(1)]
    raw = top / count
    magnitude = Decimal(1).scaleb(raw.adjusted())
    step = next(magnitude * m for m in (1, 2, Decimal("2.5"), 5, 10) if magnitude * m >= raw)
    steps = int((top / step).to_integral_value(rounding=ROUND_CEILING))
    return [step * i for i in range(steps + 1)]


def stacked_bars(
    categories: Sequence[str],
    series: Sequence[Series],
    values: dict[tuple[str, str], Decimal],
    *,
    value_title: str,
    category_title: str,
    horizontal: bool = False,
    width: int = 520,
    category_colours: Sequence[str] | None = None,
    label: str = "chart",
) -> str:
    """An inline SVG stacked bar chart: one bar per category, one segment per series (bottom/left first).

    ``values[(category, series name)]`` is money (Decimal); missing = 0, negative segments are not drawn.
    ``width`` in CSS px (the chart shrinks with the page, never grows); vertical charts are 300 px high,
    horizontal ones 28 px per bar. Each segment has a tooltip with its exact amount, each bar its total.
    """
    totals = [sum((max(values.get((c, s.name), ZERO), ZERO) for s in series), ZERO) for c in categories]
    ticks = _ticks(max(totals, default=ZERO))
    top = float(ticks[-1])
    n = max(len(categories), 1)
    if horizontal:
        left, right, upper, lower = 160, 92, 6, 44
        height = upper + 28 * n + lower
        span, band = width - left - right, (height - upper - lower) / n
    else:
        left, right, upper, lower = 60, 10, 22, 52
        height = 300
        span, band = height - upper - lower, (width - left - right) / n
    thick = min(band * (0.66 if horizontal else 0.62), 20.0 if horizontal else 64.0)
    every = 1 if horizontal else ceil(64 / band)  # category labels shown: every n-th when bars are narrow
    base = height - lower

    def scale(v: Decimal) -> float:
        return float(v) / top * span if top else 0.0

    out = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" style="max-width:{width}px" role="img" '
        f'aria-label="{esc(label)}"><title>{esc(label)}</title>'
    ]
    for tick in ticks:  # grid lines and value-axis labels
        p = scale(tick)
        if horizontal:
            out.append(f'<line class="grid" x1="{left + p:.1f}" y1="{upper}" x2="{left + p:.1f}" y2="{base}"/>')
            out.append(f'<text x="{left + p:.1f}" y="{base + 15}" text-anchor="middle">{compact(tick)}</text>')
        else:
            out.append(f'<line class="grid" x1="{left}" y1="{base - p:.1f}" x2="{width - right}" y2="{base - p:.1f}"/>')
            out.append(f'<text x="{left - 8}" y="{base - p + 4:.1f}" text-anchor="end">{compact(tick)}</text>')
    for i, (category, total) in enumerate(zip(categories, totals, strict=True)):
        mid = (upper if horizontal else left) + band * (i + 0.5)
        done = 0.0
        for s in series:
            amount = values.get((category, s.name), ZERO)
            size = scale(max(amount, ZERO))
            if size > 0:
                x, y, w, h = (left + done, mid - thick / 2, size, thick) if horizontal else (
                    mid - thick / 2, base - done - size, thick, size)  # fmt: skip
                tip = esc(f"{category} · {s.name}: {money(amount)}")
                out.append(
                    f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" fill="{s.colour}">'
                    f"<title>{tip}</title></rect>"
                )
                done += size
        shown = esc(money(total) if horizontal or band >= 88 else compact(total))
        name = esc(category if len(category) <= 24 else category[:23] + "…")
        if horizontal:
            out.append(f'<text class="value" x="{left + done + 6:.1f}" y="{mid + 4:.1f}">{shown}</text>')
            out.append(
                f'<text x="{left - 8}" y="{mid + 4:.1f}" text-anchor="end"><title>{esc(category)}</title>{name}</text>'
            )
            continue
        if band >= 34:
            out.append(
                f'<text class="value" x="{mid:.1f}" y="{base - done - 6:.1f}" text-anchor="middle">{shown}</text>'
            )
        if category_colours:
            out.append(f'<rect x="{mid - thick / 2:.1f}" y="{base + 2}" width="{thick:.1f}" height="5" '
                       f'fill="{category_colours[i]}"/>')  # fmt: skip
        if i % every == 0:
            out.append(f'<text x="{mid:.1f}" y="{base + 21}" text-anchor="middle">{name}</text>')
    if horizontal:
        out.append(f'<line class="baseline" x1="{left}" y1="{upper}" x2="{left}" y2="{base}"/>')
        value_at, category_at = (left + span / 2, height - 6), (14, upper + (base - upper) / 2)
    else:
        out.append(f'<line class="baseline" x1="{left}" y1="{base}" x2="{width - right}" y2="{base}"/>')
        value_at, category_at = (14, upper + span / 2), (left + (width - left - right) / 2, height - 8)
    for (x, y), text, turn in ((value_at, value_title, not horizontal), (category_at, category_title, horizontal)):
        rotate = f' transform="rotate(-90 {x:.1f} {y:.1f})"' if turn else ""
        out.append(f'<text class="axis-title" x="{x:.1f}" y="{y:.1f}" text-anchor="middle"{rotate}>{esc(text)}</text>')
    return "".join(out) + "</svg>"


def legend(series: Sequence[Series]) -> str:
    """An HTML legend: a colour swatch and the name of each series."""
    items = "".join(f'<li><span class="swatch" style="background:{s.colour}"></span>{esc(s.name)}</li>' for s in series)
    return f'<ul class="legend">{items}</ul>'
