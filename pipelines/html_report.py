"""The AR aging / WIP outstanding report as one self-contained HTML page (``arwip report … --format html``).

The page needs no network to be viewed: CSS is inline (``pipelines/templates/report.html``), charts are inline
SVG, there is no script, no web font, no image and no link. It shows the title and as-of date, key figures,
a stacked bar chart per aging bucket, the top clients stacked by bucket, an optional trend by month end, the
summary by client with totals and shares per bucket, and optionally the oldest detail rows.

Inputs (Arrow tables, as :func:`pipelines.models.report` returns them):

- ``summary`` (required): one row per client: ``client_name`` (text), one or more ``bucket_*`` columns in
  age order (``bucket_current, bucket_1_30, bucket_31_60, bucket_61_90, bucket_91_plus`` by default; any
  other ``bucket_<a>_<b>`` / ``bucket_<a>_plus`` works, e.g. ``bucket_91_120, bucket_121_plus``) and ``total``;
  money is ``decimal`` (``DECIMAL(18,2)``) in the report currency.
- ``detail`` (optional): the report rows, with ``source_system``, ``aging_bucket`` (``current``, ``1-30`` …,
  matching the ``bucket_*`` columns) and one money column (``open_amount`` for aging,
  ``outstanding_amount`` for WIP). Used to stack the bucket chart by source system and to list the oldest
  :data:`DETAIL_ROWS` rows (in the order given: the reports list the oldest first).
- ``trend`` (optional), long format: ``month_end`` (date), ``aging_bucket`` (``current``/``1-30``/… or the
  column name ``bucket_1_30``/…) and ``amount`` (decimal). ``snapshot_date`` is accepted for ``month_end``
  and ``open_amount`` / ``outstanding_amount`` for ``amount``, so the ``aging_trend`` / ``wip_trend``
  reports can be passed as they are. Other columns (``source_system``, ``client_name``, counts…) are
  ignored: rows with the same month end and bucket are summed. One stacked bar per month end, oldest first.

Money is summed and printed as :class:`decimal.Decimal` (two decimals, thousands separators), never through
a float; floats are used only for SVG geometry. Every text is HTML-escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

import pyarrow as pa

from pipelines.html_charts import (
    SOURCE_COLOURS,
    ZERO,
    Bucket,
    Series,
    bucket_column,
    bucket_label,
    buckets_of,
    esc,
    legend,
    money,
    stacked_bars,
    to_decimal,
)

TOP_CLIENTS = 10  # bars of the client chart; the rest are summed into one "other clients" bar
DETAIL_ROWS = 25  # detail rows listed
MONEY_COLUMNS = ("amount", "open_amount", "outstanding_amount")  # the first one present is the money column
TREND_MONTH_COLUMNS = ("month_end", "snapshot_date")
WRAPPED_COLUMNS = ("client_name", "job")  # long text in the detail table; other cells stay on one line

def _card(title: str, note: str, body: str, anchor: str) -> str:
    return f'<section class="card" id="{anchor}"><h2>{esc(title)}</h2><p class="note">{esc(note)}</p>{body}</section>'


# --- page parts ----------------------------------------------------------------------------------------------


def _require(table: pa.Table, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise ValueError(f"the {what} table has no column {', '.join(missing)} (columns: {table.column_names})")


def _bucket_chart(buckets: list[Bucket], totals: dict[str, Decimal], detail: pa.Table | None) -> str:
    labels = [b.name for b in buckets]
    values: dict[tuple[str, str], Decimal] = {}
    if detail is None or "source_system" not in detail.column_names:
        series = list(buckets)
        values = {(b.name, b.name): totals[b.column] for b in buckets}
        note = "Total per aging bucket."
        colours = None
    else:
        by_column = {b.column: b.name for b in buckets}
        amount = next((c for c in MONEY_COLUMNS if c in detail.column_names), None)
        if amount is None:
            raise ValueError(f"the detail table has no money column ({' or '.join(MONEY_COLUMNS)})")
        sources: list[str] = []
        for row in detail.select(["source_system", "aging_bucket", amount]).to_pylist():
            source = row["source_system"] or "unknown"
            sources += [] if source in sources else [source]
            key = (by_column.get(bucket_column(row["aging_bucket"] or ""), "other"), source)
            values[key] = values.get(key, ZERO) + to_decimal(row[amount])
        series = [Series(s, SOURCE_COLOURS[i % len(SOURCE_COLOURS)]) for i, s in enumerate(sorted(sources))]
        note = "Total per aging bucket, stacked by source system; the strip under each bar is the bucket's colour."
        colours = [b.colour for b in buckets]
    chart = stacked_bars(
        labels, series, values, value_title="Amount", category_title="Days past due / age (bucket)",
        category_colours=colours, label="Amount per aging bucket",
    )  # fmt: skip
    return _card("By aging bucket", note, chart + legend(series), "by-bucket")


def _client_chart(buckets: list[Bucket], rows: list[dict[str, Any]]) -> str:
    ranked = sorted(rows, key=lambda r: to_decimal(r["total"]), reverse=True)
    shown, rest = ranked[:TOP_CLIENTS], ranked[TOP_CLIENTS:]
    names = [_client(r) for r in shown]
    values = {(_client(r), b.name): to_decimal(r[b.column]) for r in shown for b in buckets}
    if rest:
        other = f"{len(rest)} other clients"
        names.append(other)
        for b in buckets:
            values[(other, b.name)] = sum((to_decimal(r[b.column]) for r in rest), ZERO)
    chart = stacked_bars(
        names, buckets, values, value_title="Amount", category_title="Client", horizontal=True,
        label="Largest clients by aging bucket",
    )  # fmt: skip
    note = f"The {len(shown)} largest clients by total, stacked by aging bucket (days)."
    return _card("Largest clients", note, chart + legend(buckets), "by-client")


def _trend_chart(buckets: list[Bucket], trend: pa.Table) -> str:
    month_col = next((c for c in TREND_MONTH_COLUMNS if c in trend.column_names), TREND_MONTH_COLUMNS[0])
    amount_col = next((c for c in MONEY_COLUMNS if c in trend.column_names), "amount")
    _require(trend, (month_col, "aging_bucket", amount_col), "trend")
    series: dict[str, Series] = {b.column: b for b in buckets}  # + buckets only the trend has, in grey
    values: dict[tuple[str, str], Decimal] = {}
    months: dict[date, str] = {}
    for row in trend.select([month_col, "aging_bucket", amount_col]).to_pylist():
        month = row[month_col].date() if isinstance(row[month_col], datetime) else row[month_col]
        months.setdefault(month, month.strftime("%b %Y"))
        column = bucket_column(row["aging_bucket"] or "")
        name = series.setdefault(column, Series(bucket_label(column), "#8896a5")).name
        values[(months[month], name)] = values.get((months[month], name), ZERO) + to_decimal(row[amount_col])
    chart = stacked_bars(
        [months[m] for m in sorted(months)], list(series.values()), values, value_title="Amount",
        category_title="Month end", width=1080, label="Amount by month end and aging bucket",
    )  # fmt: skip
    note = "Outstanding at each month end, stacked by aging bucket (days)."
    return _card("Trend", note, chart + legend(list(series.values())), "trend")


def _client(row: dict[str, Any]) -> str:
    return row["client_name"] if row["client_name"] not in (None, "") else "(no client)"


def _num_cell(value: Decimal, extra: str = "") -> str:
    kind = "zero" if value == 0 else "neg" if value < 0 else ""
    classes = " ".join(c for c in ("num", kind, extra) if c)
    return f'<td class="{classes}">{money(value)}</td>'


def _share(part: Decimal, whole: Decimal) -> str:
    return f"{(part / whole * 100).quantize(Decimal('0.1'))}%" if whole else "–"


def _summary_table(buckets: list[Bucket], rows: list[dict[str, Any]], totals: dict[str, Decimal]) -> str:
    columns = [b.column for b in buckets] + ["total"]

    def line(first: str, amounts: list[Decimal]) -> str:
        cells = [_num_cell(a, "total" if i == len(buckets) else "") for i, a in enumerate(amounts)]
        return f"<tr><td>{esc(first)}</td>{''.join(cells)}</tr>"

    head = "".join(
        f'<th class="num"><span class="swatch" style="background:{b.colour}"></span>{esc(b.name)}</th>' for b in buckets
    )
    body = "".join(line(_client(r), [to_decimal(r[c]) for c in columns]) for r in rows)
    shares = "".join(
        f'<td class="num{" total" if c == "total" else ""}">{_share(totals[c], totals["total"])}</td>' for c in columns
    )
    foot = line("Total", [totals[c] for c in columns]) + f'<tr class="share"><td>Share of total</td>{shares}</tr>'
    return (
        f'<table class="summary"><thead><tr><th>Client</th>{head}<th class="num total">Total</th></tr></thead>'
        f"<tbody>{body}</tbody><tfoot>{foot}</tfoot></table>"
    )


def _detail_table(detail: pa.Table, buckets: list[Bucket]) -> str:
    shown = detail.slice(0, DETAIL_ROWS)
    types = dict(zip(detail.column_names, detail.schema.types, strict=True))
    right = {c for c, t in types.items() if pa.types.is_decimal(t) or pa.types.is_integer(t)}
    colours = {b.column: b.colour for b in buckets}
    head = "".join(f"<th{' class=num' if c in right else ''}>{esc(c.replace('_', ' '))}</th>" for c in types)
    body = []
    for row in shown.to_pylist():
        cells = []
        for column, value in row.items():
            if isinstance(value, Decimal):
                cells.append(_num_cell(value))
            elif column in right:
                cells.append(f'<td class="num">{"" if value is None else f"{value:,}"}</td>')
            elif column == "aging_bucket" and value is not None:
                swatch = f'<span class="swatch" style="background:{colours.get(bucket_column(value), "#999")}"></span>'
                cells.append(f"<td>{swatch} {esc(value)}</td>")
            else:
                wrap = ' class="wrap"' if column in WRAPPED_COLUMNS else ""
                cells.append(f"<td{wrap}>{esc(value.isoformat() if isinstance(value, date) else value)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    table = f'<table class="detail"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
    note = f"The first {shown.num_rows:,} of {detail.num_rows:,} rows, oldest first."
    return _card("Oldest items", note, f'<div class="table-wrap">{table}</div>', "detail")


def _kpis(buckets: list[Bucket], rows: list[dict[str, Any]], totals: dict[str, Decimal], n_items: int | None) -> str:
    oldest, grand = buckets[-1], totals["total"]
    old = totals[oldest.column]
    cards = [
        ("Total outstanding", money(grand), "", f"{len(buckets)} aging buckets"),
        (f"{oldest.name} days", money(old), "alert", f"{_share(old, grand)} of total"),
        ("Clients", f"{sum(1 for r in rows if to_decimal(r['total']) != 0):,}", "", "with an amount outstanding"),
    ]
    if n_items is not None:
        cards.append(("Items", f"{n_items:,}", "", "open rows in the report"))
    return '<div class="kpis">' + "".join(
        f'<div class="kpi"><div class="label">{esc(label)}</div><div class="value {cls}">{esc(value)}</div>'
        f'<div class="sub">{esc(sub)}</div></div>'
        for label, value, cls, sub in cards
    ) + "</div>"  # fmt: skip


def render_html(
    title: str,
    as_of: date,
    summary: pa.Table,
    detail: pa.Table | None = None,
    trend: pa.Table | None = None,
) -> str:
    """The report as a self-contained HTML page (UTF-8 text); see the module docstring for the tables.

    Raises:
        ValueError: ``summary`` lacks ``client_name``, ``total`` or any ``bucket_*`` column; ``detail`` lacks
            ``aging_bucket`` or a money column; ``trend`` lacks ``month_end``, ``aging_bucket`` or ``amount``.
        TypeError: a money value is a float (money must be decimal), or ``as_of`` is not a date.
    """
    if not isinstance(as_of, date):
        raise TypeError(f"as_of must be a datetime.date, got {type(as_of).__name__}")
    as_of = as_of.date() if isinstance(as_of, datetime) else as_of
    _require(summary, ("client_name", "total"), "summary")
    buckets = buckets_of(summary)
    if not buckets:
        raise ValueError(f"the summary table has no bucket_* column (columns: {summary.column_names})")
    if detail is not None:
        _require(detail, ("aging_bucket",), "detail")
    rows = summary.to_pylist()
    totals = {c: sum((to_decimal(r[c]) for r in rows), ZERO) for c in [b.column for b in buckets] + ["total"]}
    if rows:
        charts = '<div class="charts">' + _bucket_chart(buckets, totals, detail) + _client_chart(buckets, rows)
        charts += "</div>"
        table = _summary_table(buckets, rows, totals)
    else:
        charts, table = "", '<p class="empty">Nothing outstanding as of this date.</p>'
    page = Template(resources.files("pipelines").joinpath("templates", "report.html").read_text(encoding="utf-8"))
    return page.substitute(
        title=esc(title),
        as_of_iso=as_of.isoformat(),
        as_of_long=esc(f"{as_of.day} {as_of:%B %Y}"),
        kpis=_kpis(buckets, rows, totals, None if detail is None else detail.num_rows),
        charts=charts,
        trend=_trend_chart(buckets, trend) if trend is not None and trend.num_rows else "",
        summary_note=esc(f"{len(rows):,} clients, largest total first; amounts by days past due / age."),
        summary_table=table,
        detail=_detail_table(detail, buckets) if detail is not None and detail.num_rows else "",
    )


def write_html(
    path: Path,
    title: str,
    as_of: date,
    summary: pa.Table,
    detail: pa.Table | None = None,
    trend: pa.Table | None = None,
) -> Path:
    """Write :func:`render_html` to ``path`` (UTF-8; the folder is created if missing); returns ``path``."""
    path = Path(path)
    text = render_html(title, as_of, summary, detail, trend)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
