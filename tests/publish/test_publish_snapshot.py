"""pipelines.publish: what the BI snapshot holds, its errors, and that DuckDB 1.4 (what BI drivers bundle) reads it.

The DuckDB 1.4 check runs in a second virtualenv with ``duckdb>=1.4,<1.5``, created once and cached in
``$ARWIP_DUCKDB14_VENV`` or ``~/.cache/arwip-test-duckdb14`` (about 5 s the first time, when PyPI or the
configured index is reachable); the test is skipped only when that install fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from pipelines.models import build_models, create_missing_raw_tables
from pipelines.publish import (
    DEFAULT_STORAGE_VERSION,
    INFO_TABLE,
    PublishError,
    PublishResult,
    SnapshotConfigError,
    default_snapshot_path,
    publish_snapshot,
)

REPORT_VIEWS = ("rpt_ar_aging", "rpt_wip_outstanding", "rpt_ar_aging_by_client", "rpt_wip_outstanding_by_client")


def load_rows(con: duckdb.DuckDBPyConnection, first_id: int, count: int) -> None:
    """``count`` open Aiwyn invoices (ids from ``first_id``, no payments, long overdue) and as many WIP entries."""
    con.execute(
        """
        insert into aiwyn.invoices by name
        select range as id, 'A-' || range as invoice_number, 'Client <' || (range % 7) || '> & "Sons"' as client_name,
            'POSTED' as status, timestamptz '2024-01-05 10:00:00+00' - to_days(cast(range % 200 as integer)) as
            invoice_date, timestamptz '2024-02-05 23:59:59+00' - to_days(cast(range % 200 as integer)) as due_date,
            cast(100 + (range % 97) + 0.25 as decimal(18, 2)) as total_amount,
            timestamptz '2024-03-01 00:00:00+00' as updated_at
        from range(?, ?)
        """,
        [first_id, first_id + count],
    )
    con.execute(
        """
        insert into aiwyn.wip by name
        select range as id, 'Client ' || (range % 5) as client_name, 'Job ' || (range % 3) as job_name,
            'TIME' as type, timestamptz '2024-01-10 09:00:00+00' - to_days(cast(range % 150 as integer)) as
            logged_date, cast(50 + (range % 13) as decimal(18, 2)) as value, cast(0 as decimal(18, 2)) as
            billed_amount, cast(0 as decimal(18, 2)) as write_off_amount, timestamptz '2024-03-01 00:00:00+00' as
            updated_at
        from range(?, ?)
        """,
        [first_id, first_id + count],
    )


def make_warehouse(path: Path, rows: int = 300) -> Path:
    """A warehouse with every raw table, some rows, the models, and dlt's bookkeeping tables to leave out."""
    with duckdb.connect(str(path)) as con:
        create_missing_raw_tables(con)
        load_rows(con, 1, rows)
        con.execute("create table aiwyn._dlt_loads (load_id varchar, status bigint)")
        con.execute("insert into aiwyn._dlt_loads values ('1', 0)")
        con.execute("create table aiwyn._dlt_version (version bigint, schema varchar)")
        con.execute("create schema aiwyn_staging")
        con.execute("create table aiwyn_staging.invoices as select * from aiwyn.invoices")
        build_models(con)
    return path


def aggregates(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    """Per report view: [row count, sum of its money column] as text (compared across DuckDB versions)."""
    money = {"rpt_ar_aging": "open_amount", "rpt_wip_outstanding": "outstanding_amount"}
    out = {}
    for view in REPORT_VIEWS:
        column = money.get(view, "total")
        count, total = con.execute(f"select count(*), sum({column}) from reports.{view}").fetchone()
        out[view] = [str(count), str(total)]
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The warehouse, built once per module (closed: no WAL beside it)."""
    return make_warehouse(tmp_path_factory.mktemp("built") / "arwip.duckdb")


@pytest.fixture
def warehouse(built: Path, tmp_path: Path) -> Path:
    """A fresh copy of the built warehouse, alone in its folder."""
    return Path(shutil.copyfile(built, tmp_path / "arwip.duckdb"))


def test_snapshot_holds_data_models_and_no_dlt_internals(warehouse: Path) -> None:
    result = publish_snapshot(warehouse)

    assert isinstance(result, PublishResult)
    assert result.path == default_snapshot_path(warehouse).resolve() == warehouse.parent / "arwip-bi.duckdb"
    assert result.bytes == result.path.stat().st_size > 0
    assert result.seconds > 0
    assert sorted(p.name for p in warehouse.parent.iterdir()) == ["arwip-bi.duckdb", "arwip.duckdb"]  # no temp file
    with duckdb.connect(str(warehouse), read_only=True) as con:
        expected = aggregates(con)
        tables = con.execute(
            "select schema_name || '.' || table_name from duckdb_tables() "
            "where table_name not like '\\_dlt\\_%' escape '\\' and schema_name <> 'aiwyn_staging'"
        ).fetchall()
    with duckdb.connect(str(result.path), read_only=True) as snap:
        assert aggregates(snap) == expected
        assert expected["rpt_ar_aging"][0] == expected["rpt_wip_outstanding"][0] == "300"
        snap_tables = snap.execute("select schema_name || '.' || table_name from duckdb_tables()").fetchall()
        assert sorted(snap_tables) == sorted([*tables, (f"main.{INFO_TABLE}",)])
        assert result.tables == len(tables)
        schemas = {r[0] for r in snap.execute("select schema_name from duckdb_schemas()").fetchall()}
        assert {"aiwyn", "aimsio", "iinsight", "staging", "facts", "reports"} <= schemas
        assert "aiwyn_staging" not in schemas
        views = snap.execute("select count(*) from duckdb_views() where not internal").fetchone()[0]
        assert views == result.views >= len(REPORT_VIEWS)
        info = snap.execute(f"select warehouse, storage_version, duckdb_version from main.{INFO_TABLE}").fetchall()
        assert info == [("arwip.duckdb", DEFAULT_STORAGE_VERSION, duckdb.__version__)]
        tags = snap.execute("select tags['storage_version'] from duckdb_databases() where database_name = 'arwip-bi'")
        assert tags.fetchone()[0] == "v1.4.0+"


def test_publish_replaces_the_snapshot_and_old_readers_keep_their_copy(warehouse: Path, tmp_path: Path) -> None:
    snapshot = tmp_path / "bi" / "warehouse.duckdb"  # folder created on demand
    publish_snapshot(warehouse, snapshot)
    held = duckdb.connect(str(snapshot), read_only=True)  # a BI connection opened before the next publish
    try:
        with duckdb.connect(str(warehouse)) as con:
            load_rows(con, 10_000, 50)
            build_models(con)
        publish_snapshot(warehouse, snapshot)
        # the held connection still reads the file it opened (the replaced inode), complete and unchanged
        assert held.execute("select count(*) from reports.rpt_ar_aging").fetchone()[0] == 300
    finally:
        held.close()
    fresh = subprocess.run(
        [sys.executable, "-c", READ_COUNT, str(snapshot)], capture_output=True, text=True, check=True, timeout=60
    )
    assert fresh.stdout.strip() == "350"
    assert sorted(p.name for p in snapshot.parent.iterdir()) == ["warehouse.duckdb"]


READ_COUNT = """
import sys, duckdb
with duckdb.connect(sys.argv[1], read_only=True) as con:
    print(con.execute("select count(*) from reports.rpt_ar_aging").fetchone()[0])
"""


def test_a_stale_snapshot_wal_is_removed(warehouse: Path) -> None:
    snapshot = default_snapshot_path(warehouse)
    snapshot.with_name(snapshot.name + ".wal").write_bytes(b"not a wal of this file")
    publish_snapshot(warehouse)
    assert not snapshot.with_name(snapshot.name + ".wal").exists()
    with duckdb.connect(str(snapshot), read_only=True) as snap:
        assert snap.execute("select count(*) from reports.rpt_ar_aging").fetchone()[0] == 300


def test_unknown_storage_version_is_a_config_error_and_keeps_the_old_snapshot(warehouse: Path) -> None:
    first = publish_snapshot(warehouse)
    before = first.path.read_bytes()
    for bad in ("v1.4", "1.4.0", "bogus", "v9.9.9", " "):
        with pytest.raises(SnapshotConfigError, match=r"storage_compatibility_version"):
            publish_snapshot(warehouse, storage_version=bad)
    assert first.path.read_bytes() == before
    assert sorted(p.name for p in warehouse.parent.iterdir()) == ["arwip-bi.duckdb", "arwip.duckdb"]


def test_other_errors(tmp_path: Path, warehouse: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no warehouse"):
        publish_snapshot(tmp_path / "missing.duckdb")
    with pytest.raises(SnapshotConfigError, match="snapshot_path"):
        publish_snapshot(warehouse, warehouse)
    broken = tmp_path / "broken.duckdb"
    broken.write_bytes(b"this is not a duckdb file" * 1000)
    with pytest.raises(PublishError, match=r"broken\.duckdb"):
        publish_snapshot(broken, tmp_path / "out" / "snap.duckdb")
    assert list((tmp_path / "out").iterdir()) == []


def test_default_snapshot_path() -> None:
    assert default_snapshot_path(Path("/data/arwip.duckdb")) == Path("/data/arwip-bi.duckdb")
    assert default_snapshot_path(Path("w/arwip-demo.duckdb")) == Path("w/arwip-demo-bi.duckdb")
    assert default_snapshot_path(Path("w/warehouse")) == Path("w/warehouse-bi.duckdb")


# --- DuckDB 1.4, in its own virtualenv ---------------------------------------------------------------------

DUCKDB14_SPEC = "duckdb>=1.4,<1.5"

READ_REPORTS = """
import json, sys, duckdb
money = {"rpt_ar_aging": "open_amount", "rpt_wip_outstanding": "outstanding_amount"}
views = sys.argv[2].split(",")
try:
    con = duckdb.connect(sys.argv[1], read_only=True)
except duckdb.Error as exc:
    print(json.dumps({"version": duckdb.__version__, "error": str(exc).splitlines()[0]}))
    sys.exit(0)
out = {}
for view in views:
    count, total = con.execute(f"select count(*), sum({money.get(view, 'total')}) from reports.{view}").fetchone()
    out[view] = [str(count), str(total)]
dlt = con.execute("select count(*) from duckdb_tables() where table_name like '_dlt%'").fetchone()[0]
print(json.dumps({"version": duckdb.__version__, "reports": out, "dlt_tables": dlt}))
"""


def duckdb14_python() -> Path:
    """The python of a cached virtualenv with DuckDB 1.4 (created on first use); skips the test if pip fails."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    venv = Path(os.environ.get("ARWIP_DUCKDB14_VENV") or cache / "arwip-test-duckdb14")
    python = venv / "bin" / "python"
    check = [str(python), "-c", "import duckdb, sys; sys.exit(not duckdb.__version__.startswith('1.4.'))"]
    if python.exists() and subprocess.run(check, capture_output=True, timeout=60).returncode == 0:
        return python
    building = venv.with_name(f"{venv.name}.building-{os.getpid()}")
    shutil.rmtree(building, ignore_errors=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(building)], check=True, capture_output=True, timeout=120)
        pip = [str(building / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        subprocess.run([*pip, DUCKDB14_SPEC], check=True, capture_output=True, text=True, timeout=600)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        shutil.rmtree(building, ignore_errors=True)
        detail = getattr(exc, "stderr", None) or exc
        pytest.skip(f"could not install {DUCKDB14_SPEC} into a test virtualenv: {str(detail).strip()[-300:]}")
    shutil.rmtree(venv, ignore_errors=True)
    try:
        building.rename(venv)  # venvs are not relocatable in general, but `bin/python -c` works from the new path
    except OSError:  # another test process installed it meanwhile
        shutil.rmtree(building, ignore_errors=True)
    return python


def read_with_duckdb14(snapshot: Path) -> dict:
    python = duckdb14_python()
    done = subprocess.run(
        [str(python), "-c", READ_REPORTS, str(snapshot), ",".join(REPORT_VIEWS)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_duckdb_14_reads_the_snapshot_and_its_report_views(warehouse: Path) -> None:
    result = publish_snapshot(warehouse)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        expected = aggregates(con)

    seen = read_with_duckdb14(result.path)

    assert seen["version"].startswith("1.4."), seen
    assert seen.get("error") is None, seen
    assert seen["reports"] == expected
    assert Decimal(seen["reports"]["rpt_ar_aging"][1]) > 0
    assert seen["dlt_tables"] == 0


def test_duckdb_14_cannot_read_a_snapshot_in_the_newest_format(warehouse: Path, tmp_path: Path) -> None:
    """Shows why the storage version matters: 'latest' (DuckDB 2.0's format) is refused by DuckDB 1.4."""
    result = publish_snapshot(warehouse, tmp_path / "latest.duckdb", storage_version="latest")
    seen = read_with_duckdb14(result.path)
    assert "newer version of DuckDB" in seen.get("error", "") or "version number" in seen.get("error", ""), seen


def test_a_connection_still_open_in_this_process_is_named(warehouse: Path) -> None:
    with duckdb.connect(str(warehouse)), pytest.raises(PublishError, match="close this process's connection"):
        publish_snapshot(warehouse)
    assert not default_snapshot_path(warehouse).exists()
