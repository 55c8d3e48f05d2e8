"""The HTML report in a real headless browser (Debian's ``chromium``): the DOM it builds and a screenshot.

Skipped only when no chromium is installed (``apt-get install -y chromium``). Set ``ARWIP_SCREENSHOT_DIR``
to keep the screenshot (``aging.png``) for a look; otherwise it lives in pytest's temporary folder.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zlib
from datetime import date
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from pipelines.html_report import write_html

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)")

D = pa.decimal128(18, 2)
WIDTH, HEIGHT = 1280, 1600
BUCKETS = ("current", "1-30", "31-60", "61-90", "91+")
CLIENTS = ("Acme Corp", 'Smith <&> "Jones"', "Beta Pty Ltd", "Northwind Traders", "Contoso LLP", "Globex", "Initech")


def tables() -> tuple[pa.Table, pa.Table, pa.Table]:
    """(summary, detail, trend) of a small deterministic firm: 42 invoices over 7 clients and 5 buckets."""
    detail_rows = []
    for i in range(42):
        bucket = BUCKETS[(i * 3) % 5]
        days = {"current": -3, "1-30": 12, "31-60": 45, "61-90": 75, "91+": 150 + i}[bucket]
        detail_rows.append(
            {
                "source_system": ("aiwyn", "iinsight")[i % 2],
                "invoice_id": str(100 + i),
                "invoice_number": f"INV-{100 + i}",
                "client_name": CLIENTS[i % len(CLIENTS)],
                "invoice_date": date(2024, 6, 1),
                "due_date": date(2024, 7, 1),
                "open_amount": Decimal(1000 + 137 * i) + Decimal("0.45"),
                "days_past_due": days,
                "aging_bucket": bucket,
            }
        )
    detail_rows.sort(key=lambda r: -r["days_past_due"])
    detail = pa.Table.from_pylist(detail_rows).cast(
        pa.schema(
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
    )
    columns = ["bucket_" + b.replace("-", "_").replace("+", "_plus") for b in BUCKETS]
    sums: dict[str, dict[str, Decimal]] = {}
    for row in detail_rows:
        per = sums.setdefault(row["client_name"], dict.fromkeys(columns, Decimal("0.00")))
        per["bucket_" + row["aging_bucket"].replace("-", "_").replace("+", "_plus")] += row["open_amount"]
    summary_rows = [{"client_name": c, **v, "total": sum(v.values(), Decimal(0))} for c, v in sums.items()]
    summary_rows.sort(key=lambda r: -r["total"])
    summary = pa.Table.from_pylist(
        summary_rows, schema=pa.schema([("client_name", pa.string()), *[(c, D) for c in columns], ("total", D)])
    )
    months = [date(2024, 7, 31), date(2024, 8, 31), date(2024, 9, 30), date(2024, 10, 31), date(2024, 11, 30)]
    trend_rows = [
        {"month_end": m, "aging_bucket": b, "amount": Decimal(5000 + 1500 * j + 700 * k) + Decimal("0.25")}
        for j, m in enumerate(months)
        for k, b in enumerate(BUCKETS)
    ]
    trend = pa.Table.from_pylist(
        trend_rows, schema=pa.schema([("month_end", pa.date32()), ("aging_bucket", pa.string()), ("amount", D)])
    )
    return summary, detail, trend


def chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def png_size_and_colours(path: Path) -> tuple[int, int, int]:
    """(width, height, distinct byte values in the decoded image data) of a PNG, without an imaging library."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    chunks, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        if kind == b"IDAT":
            chunks.append(data[pos + 8 : pos + 8 + length])
        pos += 12 + length
    return width, height, len(set(zlib.decompress(b"".join(chunks))))


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    summary, detail, trend = tables()
    return write_html(
        tmp_path_factory.mktemp("html") / "aging.html", "AR aging", date(2024, 11, 30), summary, detail, trend
    )


def test_the_browser_builds_the_table_and_the_charts(page: Path, tmp_path: Path) -> None:
    done = chromium(tmp_path / "profile", "--dump-dom", page.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    assert '<table class="summary">' in dom and '<table class="detail">' in dom
    assert dom.count("<svg") == 3 and dom.count('<ul class="legend">') == 3
    assert dom.count("<rect") >= 5 + 7 * 5 + 5 * 5  # bars of the bucket, client and trend charts
    summary, _, _ = tables()
    grand = sum(summary["total"].to_pylist(), Decimal(0))
    assert f"{grand:,.2f}" in dom  # the grand total, as the table shows it
    assert 'Smith &lt;&amp;&gt; "Jones"' in dom or "Smith &lt;&amp;&gt; &quot;Jones&quot;" in dom
    assert "<script" not in dom


def test_screenshot(page: Path, tmp_path: Path) -> None:
    keep = os.environ.get("ARWIP_SCREENSHOT_DIR")
    shot = Path(keep) / "aging.png" if keep else tmp_path / "aging.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    done = chromium(tmp_path / "profile", f"--screenshot={shot}", f"--window-size={WIDTH},{HEIGHT}", page.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    width, height, distinct = png_size_and_colours(shot)
    assert (width, height) == (WIDTH, HEIGHT)
    assert distinct > 50  # text, charts and colours: not a blank page
