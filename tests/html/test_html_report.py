"""pipelines.html_report: values, escaping, configurable buckets and self-containment of the HTML page."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from pipelines.html_charts import bucket_colours, bucket_column, bucket_label, compact, money
from pipelines.html_report import render_html, write_html

D = pa.decimal128(18, 2)
BUCKETS = ("bucket_current", "bucket_1_30", "bucket_31_60", "bucket_61_90", "bucket_91_plus")
EVIL = '<script>alert("x")</script> & "Sons" <b>'
AS_OF = date(2025, 1, 31)


def summary_table(rows: list[tuple], buckets: tuple[str, ...] = BUCKETS) -> pa.Table:
    """Rows of (client_name, *bucket amounts as text); total = their sum, as Decimal."""
    schema = pa.schema([("client_name", pa.string()), *[(b, D) for b in buckets], ("total", D)])
    data = []
    for name, *amounts in rows:
        values = [Decimal(a) for a in amounts]
        data.append({"client_name": name, **dict(zip(buckets, values, strict=True)), "total": sum(values, Decimal(0))})
    return pa.Table.from_pylist(data, schema=schema)


def summary() -> pa.Table:
    return summary_table(
        [
            ("Acme Corp", "1000.10", "200.20", "0.00", "0.00", "9007199254740993.01"),  # 2**53 + 1: not a float
            (EVIL, "0.10", "0.20", "30.00", "40.00", "50.00"),
            (None, "5.00", "0.00", "0.00", "0.00", "0.00"),
        ]
    )


def detail() -> pa.Table:
    schema = pa.schema(
        [
            ("source_system", pa.string()),
            ("invoice_id", pa.string()),
            ("invoice_number", pa.string()),
            ("client_name", pa.string()),
            ("invoice_date", pa.date32()),
            ("due_date", pa.date32()),
            ("open_amount", D),
            ("days_past_due", pa.int32()),
            ("aging_bucket", pa.string()),
        ]
    )
    rows = [
        ("aiwyn", "1", "A-1", "Acme Corp", date(2024, 1, 1), date(2024, 1, 31), "9007199254740993.01", 366, "91+"),
        ("iinsight", "2", "I-2", EVIL, date(2024, 12, 1), date(2024, 12, 31), "30.00", 31, "31-60"),
        ("aiwyn", "3", "A-3", "Acme Corp", date(2025, 1, 1), date(2025, 1, 10), "200.20", 21, "1-30"),
        ("iinsight", "4", "I-4", "Acme Corp", date(2025, 1, 20), date(2025, 2, 19), "1000.10", -19, "current"),
    ]
    names = schema.names
    return pa.Table.from_pylist(
        [dict(zip(names, (*r[:6], Decimal(r[6]), *r[7:]), strict=True)) for r in rows], schema=schema
    )


def trend() -> pa.Table:
    schema = pa.schema(
        [("month_end", pa.date32()), ("source_system", pa.string()), ("aging_bucket", pa.string()), ("amount", D)]
    )
    rows = [
        (date(2024, 12, 31), "aiwyn", "1-30", "100.10"),
        (date(2024, 12, 31), "iinsight", "1-30", "200.20"),  # same month and bucket: summed to 300.30
        (date(2024, 12, 31), "aiwyn", "bucket_91_plus", "5.00"),  # the column name is accepted too
        (date(2024, 11, 30), "aiwyn", "current", "7.00"),
        (date(2025, 1, 31), "aiwyn", "365+", "1.00"),  # a bucket the summary lacks: kept, in grey
    ]
    return pa.Table.from_pylist(
        [dict(zip(schema.names, (*r[:3], Decimal(r[3])), strict=True)) for r in rows], schema=schema
    )


def test_totals_and_money_are_exact_with_separators() -> None:
    page = render_html("AR aging", AS_OF, summary(), detail(), trend())
    assert "9,007,199,254,740,993.01" in page  # via float it would read …992.00
    # per bucket totals, and the grand total, in the footer of the summary table
    foot = page[page.index("<tfoot>") : page.index("</tfoot>")]
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", foot)
    assert cells[:7] == [
        "Total",
        "1,005.20",
        "200.40",
        "30.00",
        "40.00",
        "9,007,199,254,741,043.01",
        "9,007,199,254,742,318.61",
    ]
    assert cells[7] == "Share of total" and cells[-1] == "100.0%"
    assert '<td class="num zero">0.00</td>' in page  # zeros shown, greyed
    assert "31 January 2025" in page and 'datetime="2025-01-31"' in page


def test_every_text_is_escaped() -> None:
    page = render_html('AR <aging> & "more"', AS_OF, summary(), detail(), trend())
    assert EVIL not in page
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &quot;Sons&quot; &lt;b&gt;" in page
    assert "<title>AR &lt;aging&gt; &amp; &quot;more&quot; — as of 2025-01-31</title>" in page
    assert "(no client)" in page


def test_self_contained_no_network_references() -> None:
    page = render_html("AR aging", AS_OF, summary(), detail(), trend())
    lowered = page.lower()
    for needle in ("http://", "https://", "//cdn", "<script", "<link", "<img", "src=", "url(", "@import", "@font-face"):
        assert needle not in lowered, needle
    assert page.count("<svg") == 3  # by bucket, largest clients, trend
    assert page.count("<style>") == 1


def test_charts_have_legends_axis_titles_and_bucket_colours() -> None:
    page = render_html("WIP outstanding", AS_OF, summary(), detail(), trend())
    colours = bucket_colours(5)
    assert colours[0] == "#2e7d32" and colours[-1] == "#c62828"  # green → red
    for colour in colours:
        assert f'fill="{colour}"' in page
    assert page.count('<ul class="legend">') == 3
    for label in ("Current", "1–30", "31–60", "61–90", "91+", "aiwyn", "iinsight"):
        assert f"</span>{label}</li>" in page, label
    assert "Month end</text>" in page and "Client</text>" in page and "Amount</text>" in page
    # tooltips carry exact amounts; the trend sums rows of the same month end and bucket
    assert "<title>Dec 2024 · 1–30: 300.30</title>" in page
    assert "<title>Dec 2024 · 91+: 5.00</title>" in page
    assert "</span>365+</li>" in page  # a trend bucket the summary lacks
    assert "<title>91+ · aiwyn: 9,007,199,254,740,993.01</title>" in page  # bucket chart by source
    # months in order on the axis
    assert page.index(">Nov 2024</text>") < page.index(">Dec 2024</text>") < page.index(">Jan 2025</text>")


def test_configurable_buckets() -> None:
    buckets = ("bucket_current", "bucket_1_30", "bucket_31_60", "bucket_61_90", "bucket_91_120", "bucket_121_plus")
    table = summary_table([("Acme", "1.00", "2.00", "3.00", "4.00", "5.00", "6.00")], buckets)
    page = render_html("AR aging", AS_OF, table)
    for label in ("91–120", "121+"):
        assert f"</span>{label}</th>" in page and f"</span>{label}</li>" in page
    assert "21.00" in page and "121+ days" in page  # total; the oldest bucket's key figure
    assert len(set(bucket_colours(6))) == 6


def test_helpers() -> None:
    assert bucket_label("bucket_current") == "Current"
    assert bucket_label("bucket_1_30") == "1–30"
    assert bucket_label("bucket_91_plus") == "91+"
    assert bucket_column("91+") == "bucket_91_plus" and bucket_column("1-30") == "bucket_1_30"
    assert bucket_column("bucket_61_90") == "bucket_61_90" and bucket_column("current") == "bucket_current"
    assert money(Decimal("1234567.8")) == "1,234,567.80" and money(None) == "" and money(Decimal("-5")) == "-5.00"
    assert compact(Decimal(2500000)) == "2.5M" and compact(Decimal(12000)) == "12k" and compact(Decimal(250)) == "250"
    with pytest.raises(TypeError, match="decimal"):
        money(1.5)  # type: ignore[arg-type]


def test_empty_summary_and_no_detail() -> None:
    page = render_html("AR aging", AS_OF, summary_table([]))
    assert "Nothing outstanding" in page and "<svg" not in page
    page = render_html("AR aging", datetime(2025, 1, 31, 23, 0), summary())
    assert page.count("<svg") == 2 and "Oldest items" not in page and "Total per aging bucket." in page


def test_bad_input_is_refused_clearly() -> None:
    with pytest.raises(ValueError, match="bucket_"):
        render_html("x", AS_OF, pa.table({"client_name": ["a"], "total": pa.array([Decimal(1)], D)}))
    with pytest.raises(ValueError, match="total"):
        render_html("x", AS_OF, summary().drop_columns(["total"]))
    with pytest.raises(ValueError, match="month_end"):
        render_html("x", AS_OF, summary(), trend=trend().drop_columns(["month_end"]))
    with pytest.raises(ValueError, match="money column"):
        render_html("x", AS_OF, summary(), detail().drop_columns(["open_amount"]))
    floats = summary().set_column(1, "bucket_current", pa.array([1.5, 2.5, 3.5]))
    with pytest.raises(TypeError, match="money must be decimal"):
        render_html("x", AS_OF, floats)
    with pytest.raises(TypeError, match="as_of"):
        render_html("x", "2025-01-31", summary())  # type: ignore[arg-type]


def test_write_html(tmp_path: Path) -> None:
    out = write_html(tmp_path / "reports" / "aging.html", "AR aging", AS_OF, summary(), detail(), trend())
    text = out.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and text == render_html("AR aging", AS_OF, summary(), detail(), trend())


def test_trend_report_shape_is_accepted_as_it_is() -> None:
    """The ``aging_trend`` report: snapshot_date, per source and client, open_amount, extra columns."""
    schema = pa.schema(
        [
            ("snapshot_date", pa.date32()),
            ("source_system", pa.string()),
            ("client_name", pa.string()),
            ("aging_bucket", pa.string()),
            ("bucket_order", pa.int32()),
            ("open_amount", D),
            ("invoice_count", pa.int64()),
        ]
    )
    rows = [
        (date(2024, 12, 31), "aiwyn", "A", "61-90", 4, Decimal("10.01"), 1),
        (date(2024, 12, 31), "iinsight", "B", "61-90", 4, Decimal("20.02"), 2),
        (date(2025, 1, 15), "aiwyn", "A", "current", 1, Decimal("1.00"), 1),
    ]
    table = pa.Table.from_pylist([dict(zip(schema.names, r, strict=True)) for r in rows], schema=schema)
    page = render_html("AR aging", AS_OF, summary(), trend=table)
    assert "<title>Dec 2024 · 61–90: 30.03</title>" in page and "<title>Jan 2025 · Current: 1.00</title>" in page
