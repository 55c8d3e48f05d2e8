"""Bad input: records that do not parse go to ``<source>.quarantine`` and the rest loads; ``--strict`` makes
that exit 3; fields a vendor adds are kept; an answer that is not JSON (a list page, an invoice detail, an NRB
detail) is quarantined, the rest loads, and the next run reads what it stood for again.

The simulators serve only well-formed data. An unknown enum value is written into the firm's store; the
values the store's types cannot hold (a date ``31-02-2024``, an amount ``abc``, a missing id, a new field)
are put into the simulators' answers by a test-side interceptor (``tests/chaos/asgi.py``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import duckdb
import orjson
import pytest

from simulators import Firm, SimSettings, SimulatorCluster
from tests.chaos.asgi import Intercept, params
from tests.chaos.harness import NOW, SyncResult, fast_retries, run_sync, sync_env
from tests.chaos.reconcile import reconcile

BAD_WIP_ID = 100005  # its type becomes OVERTIME (unknown) in the store
BAD_DATE, BAD_AMOUNT, NO_ID = "905", "906", "907"  # iinsight v1 invoices, spoiled in the answers


def _loads(body: bytes):
    return json.loads(body, parse_float=orjson.Fragment)  # keeps the numbers' exact text


def _spoil_iinsight(scope, status, body):
    if scope["path"] != "/api1/invoices" or status != 200:
        return None
    rows = _loads(body)
    for row in rows:
        if row["invoice_id"] == BAD_DATE:
            row["date_of_invoice"] = "31-02-2024"
        elif row["invoice_id"] == BAD_AMOUNT:
            row["total_amount_payable"] = "abc"
        elif row["invoice_id"] == NO_ID:
            row["invoice_id"] = None
        row["office_region"] = "NSW"  # a field the vendor added
    return orjson.dumps(rows)


class Spoiled:
    """A sync of a firm with five bad records (the module's fixture)."""

    def __init__(self, tmp: Path) -> None:
        self.firm = Firm(seed=1, size="tiny", now=NOW)
        self.nrb = self.firm.truth().aimsio_nrbs["nrb_guid"][0].as_py()
        self.firm.write(lambda con, t: con.execute(
            "UPDATE aiwyn_wip SET type = 'OVERTIME', updated_at = ? WHERE id = ?", [t, BAD_WIP_ID]).fetchall())
        self.cluster = SimulatorCluster(self.firm, SimSettings())
        self.cluster.apps["iinsight"] = Intercept(self.cluster.apps["iinsight"], after=_spoil_iinsight)
        self.cluster.apps["aimsio"] = Intercept(self.cluster.apps["aimsio"], after=self._spoil_nrb)
        self.db = tmp / "w.duckdb"

    def _spoil_nrb(self, scope, status, body):
        if status != 200 or not scope["path"].endswith(f"/NonRecurringBillableItem/{self.nrb}"):
            return None
        row = _loads(body)
        row["nrbTotalAfterMarkup"] = "n/a"
        return orjson.dumps(row)

    def sync(self, *args: str) -> SyncResult:
        return run_sync(self.db, sync_env(self.cluster, SOURCES__IINSIGHT__API_VERSION=1), *args)

    def rows(self, sql: str) -> list[tuple]:
        with duckdb.connect(str(self.db), read_only=True) as con:
            return con.execute(sql).fetchall()


@pytest.fixture(scope="module")
def spoiled(tmp_path_factory) -> Iterator[tuple[Spoiled, SyncResult]]:
    s = Spoiled(tmp_path_factory.mktemp("spoiled"))
    with s.cluster:
        yield s, s.sync("--strict")


def test_strict_sync_exits_3_and_says_how_many_were_quarantined(spoiled):
    _, result = spoiled
    assert result.returncode == 3, result.describe()
    assert "5 record(s) quarantined" in result.stderr, result.stderr
    assert "Traceback" not in result.output


def test_bad_records_are_quarantined_with_reason_and_payload(spoiled):
    s, _ = spoiled
    rows = s.rows("SELECT source, entity, record_key, reason, payload FROM aiwyn.quarantine UNION ALL "
                  "SELECT source, entity, record_key, reason, payload FROM aimsio.quarantine UNION ALL "
                  "SELECT source, entity, record_key, reason, payload FROM iinsight.quarantine")
    found = {(src, entity, key): (reason, json.loads(payload)) for src, entity, key, reason, payload in rows}
    expected = {
        ("aiwyn", "wip", str(BAD_WIP_ID)): ("'type'", "type", "OVERTIME"),
        ("aimsio", "nrbs", s.nrb): ("'nrbTotalAfterMarkup'", "nrbTotalAfterMarkup", "n/a"),
        ("iinsight", "invoices", BAD_DATE): ("'date_of_invoice'", "date_of_invoice", "31-02-2024"),
        ("iinsight", "invoices", BAD_AMOUNT): ("'total_amount_payable'", "total_amount_payable", "abc"),
        ("iinsight", "invoices", None): ("'invoice_id'", "invoice_number", "VIC2013907"),
    }
    assert set(found) == set(expected), found.keys()
    for key, (in_reason, field, value) in expected.items():
        reason, payload = found[key]
        assert in_reason in reason and payload[field] == value, (key, reason, payload.get(field))


def test_everything_else_loads_and_new_fields_are_kept(spoiled):
    s, _ = spoiled
    result = reconcile(s.db, s.firm, reports=False, iinsight_api_version=1)
    bad = {"aiwyn_wip": {str(BAD_WIP_ID)}, "aimsio_nrbs": {s.nrb}, "iinsight_invoices": {BAD_DATE, BAD_AMOUNT, NO_ID}}
    for name, table in result.tables.items():
        assert table.duplicate == table.extra == table.stale == 0, result.summary()
        assert table.missing == len(bad.get(name, ())) or name.endswith(("_items", "_children")), result.summary()
    loaded = {r[0] for r in s.rows("SELECT invoice_id FROM iinsight.invoices")}
    assert not loaded & {BAD_DATE, BAD_AMOUNT, NO_ID}
    assert s.rows("SELECT DISTINCT office_region FROM iinsight.invoices") == [("NSW",)]


def test_quarantined_records_carry_the_load_id(spoiled):
    s, _ = spoiled
    columns = {r[0] for r in s.rows("SELECT column_name FROM information_schema.columns "
                                    "WHERE table_schema = 'iinsight' AND table_name = 'quarantine'")}
    load_id = next((c for c in ("load_id", "_dlt_load_id") if c in columns), None)
    assert load_id, sorted(columns)
    loads = {r[0] for r in s.rows("SELECT load_id FROM iinsight._dlt_loads")}
    assert {r[0] for r in s.rows(f"SELECT {load_id} FROM iinsight.quarantine")} <= loads


def test_answers_that_are_not_json_are_quarantined_and_read_again_next_run(cluster, tmp_path):
    """While the vendors answer some calls with an HTML maintenance page (every attempt), a sync quarantines
    each such answer with the request it answered and its body, loads everything else, and exits 0; the next
    sync, once the pages are back, loads what they held: the warehouse then equals the truth."""
    firm = Firm(seed=1, size="tiny", now=NOW)
    truth = firm.truth()
    invoice_id = truth.aiwyn_invoices["id"][3].as_py()
    nrb = truth.aimsio_nrbs["nrb_guid"][2].as_py()
    page = b"<html><body>Down for maintenance</body></html>"
    broken = {  # vendor -> (path, query parameters it must carry)
        "aiwyn": (("/gql/v1/payments/search", ()), (f"/gql/v1/invoice/{invoice_id}", ())),
        "aimsio": ((f"/rest/api/standard/v1/NonRecurringBillableItem/{nrb}", ()),),
        "iinsight": (("/api2/invoices", ("status=voided", "page=1")),),
    }
    down = [True]

    def maintenance(vendor: str):
        def before(scope):
            query = scope["query_string"].decode().split("&")
            if down[0] and any(scope["path"] == path and set(q) <= set(query) for path, q in broken[vendor]):
                return 200, page, {"content-type": "text/html"}
            return None
        return before

    sims = cluster(firm, before={vendor: maintenance(vendor) for vendor in broken})
    db = tmp_path / "w.duckdb"
    env = sync_env(sims, SOURCES__IINSIGHT__API_VERSION=2, **fast_retries(0.05))

    first = run_sync(db, env)
    assert first.returncode == 0 and "Traceback" not in first.output, first.describe()
    assert "4 record(s) quarantined" in first.stderr, first.stderr
    with duckdb.connect(str(db), read_only=True) as con:
        quarantined = {
            (source, entity): (key, reason, json.loads(payload))
            for source in broken
            for entity, key, reason, payload in con.execute(
                f"SELECT entity, record_key, reason, payload FROM {source}.quarantine").fetchall()
        }
    assert set(quarantined) == {("aiwyn", "payments"), ("aiwyn", "invoices"), ("aimsio", "nrbs"),
                                ("iinsight", "invoices")}, quarantined
    for (source, _), (key, reason, payload) in quarantined.items():
        assert payload == page.decode() and "not JSON" in reason, (source, key, reason)
    assert quarantined["aiwyn", "payments"][0].startswith('POST /gql/v1/payments/search {"pageSize"')
    assert quarantined["aiwyn", "invoices"][0] == f"GET /gql/v1/invoice/{invoice_id}"
    assert quarantined["aimsio", "nrbs"][0].endswith(f"/NonRecurringBillableItem/{nrb}")
    iinsight_key = quarantined["iinsight", "invoices"][0]
    assert "status=voided" in iinsight_key and "page=1" in iinsight_key, iinsight_key
    held = reconcile(db, firm, reports=False)
    missing = {name: t.missing for name, t in held.tables.items() if t.missing}
    assert missing.get("aiwyn_payments") == truth.aiwyn_payments.num_rows, held.summary()
    assert missing.get("aimsio_nrbs") == 1 and missing.get("iinsight_invoices") == 2, held.summary()
    assert held.tables["aiwyn_wip"].differences == 0, held.summary()

    down[0] = False
    second = run_sync(db, env, "--strict")
    assert second.returncode == 0, second.describe()
    after = reconcile(db, firm)
    assert after.differences == 0, after.summary()


def test_an_unreadable_id_page_skips_reconciling_instead_of_flagging_records_that_exist(cluster, tmp_path):
    """iinsight API v1 reconciled by a sync (reconcile_every 0: every sync). When a page of its ids is not JSON,
    the id set is incomplete: the sync says the entity was not reconciled and flags nothing (the voided
    invoices it could not read still exist), and the models are still built."""
    firm = Firm(seed=1, size="tiny", now=NOW)
    down = [False]

    def before(scope):
        query = scope["query_string"].decode().split("&")
        if down[0] and scope["path"] == "/api1/invoices" and {"status=voided", "page=1"} <= set(query):
            return 200, b"<html>Bad gateway</html>", {"content-type": "text/html"}
        return None

    sims = cluster(firm, before={"iinsight": before})
    db = tmp_path / "w.duckdb"
    env = sync_env(sims, SOURCES__IINSIGHT__API_VERSION=1, SOURCES__IINSIGHT__RECONCILE_EVERY="0s",
                   **fast_retries(0.05))
    assert run_sync(db, env).returncode == 0
    down[0] = True
    result = run_sync(db, env)
    assert result.returncode == 0, result.describe()
    assert "iinsight.invoices: not reconciled" in result.output, result.output
    with duckdb.connect(str(db), read_only=True) as con:
        flagged = con.execute("SELECT count(*) FROM iinsight.deletions WHERE deleted_at IS NOT NULL").fetchone()
        voided = con.execute("SELECT count(*) FROM iinsight.invoices WHERE status = 'VOIDED'").fetchone()
    assert flagged == (0,) and voided == (2,)
    assert reconcile(db, firm, iinsight_api_version=1).differences == 0


@pytest.mark.parametrize("position", [-6, -1], ids=["older", "newest"])
def test_a_record_never_served_as_json_is_read_again_from_itself_not_from_the_start(cluster, tmp_path, position):
    """An invoice whose detail the vendor can never serialize: each run quarantines it again and loads the
    rest, and the invoices' watermark saves no further than that invoice's ``updatedAt``: the next run reads
    from there (less the lag), not again from the first sync's start date, and asks for that detail again even
    when its row (loaded) sits in the boundary window (the newest invoice). Once the vendor serves it, the
    next sync loads it: nothing is lost."""
    firm = Firm(seed=1, size="tiny", now=NOW)
    invoices = firm.truth().aiwyn_invoices.sort_by("updated_at")
    broken_id, broken_at = invoices["id"][position].as_py(), invoices["updated_at"][position].as_py()
    lag = timedelta(seconds=300)
    listed: list[set[int]] = []  # invoice ids the searches answered, per run
    down = [True]

    def before(scope):
        if down[0] and scope["path"] == f"/gql/v1/invoice/{broken_id}":
            return 200, b"<html>Internal error</html>", {"content-type": "text/html"}
        return None

    def after(scope, status, body):
        if scope["path"] == "/gql/v1/invoices/search" and status == 200:
            listed[-1].update(row["id"] for row in orjson.loads(body)["deid_invoice"])

    sims = cluster(firm, before={"aiwyn": before})
    sims.apps["aiwyn"].after = after
    db = tmp_path / "w.duckdb"
    env = sync_env(sims, SOURCES__AIWYN__LAG_SECONDS=300, **fast_retries(0.05))
    for _ in range(2):
        listed.append(set())
        result = run_sync(db, env, "--source", "aiwyn")
        assert result.returncode == 0 and "1 record(s) quarantined" in result.stderr, result.describe()
    assert listed[0] == set(invoices["id"].to_pylist())
    since = broken_at - lag
    assert listed[1] == {i for i, t in zip(invoices["id"].to_pylist(), invoices["updated_at"].to_pylist(),
                                           strict=True) if t >= since}, sorted(listed[1])
    assert broken_id in listed[1] and len(listed[1]) < len(listed[0])

    down[0] = False
    assert run_sync(db, env, "--source", "aiwyn", "--strict").returncode == 0
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM aiwyn.invoices WHERE id = ?", [broken_id]).fetchone() == (1,)
        lines = con.execute("SELECT count(*) FROM aiwyn.invoice_line_items WHERE invoice_id = ?", [broken_id])
        expected = firm.truth().aiwyn_invoice_line_items["invoice_id"].to_pylist().count(broken_id)
        assert lines.fetchone()[0] == expected > 0


def test_an_iinsight_page_never_served_as_json_caps_the_watermark_at_the_page_before(cluster, tmp_path):
    """Page 3 of the active invoices is never JSON: the pages after it still load, and the next run asks for
    changes since the newest ``last_update_utc`` of page 2 (less the lag), where the unread rows begin."""
    firm = Firm(seed=1, size="demo", now=NOW)
    asked: list[dict[str, str]] = []  # query parameters of the active-invoice requests
    newest_of_page_2: list[str] = []

    def before(scope):
        if scope["path"] == "/api2/invoices" and params(scope).get("status") == "active":
            asked.append(params(scope))
            if params(scope)["page"] == "3":
                return 200, b"<html>Internal error</html>", {"content-type": "text/html"}
        return None

    def after(scope, status, body):
        query = params(scope)
        if scope["path"] == "/api2/invoices" and (query.get("status"), query.get("page")) == ("active", "2"):
            newest_of_page_2.append(max(row["last_update_utc"] for row in orjson.loads(body)))

    sims = cluster(firm, before={"iinsight": before}, after={"iinsight": after})
    db = tmp_path / "w.duckdb"
    env = sync_env(sims, SOURCES__IINSIGHT__API_VERSION=2, SOURCES__IINSIGHT__LAG_SECONDS=300,
                   **fast_retries(0.05))
    first = run_sync(db, env, "--source", "iinsight")
    assert first.returncode == 0 and "1 record(s) quarantined" in first.stderr, first.describe()
    assert {a["page"] for a in asked} >= {"1", "2", "3", "4"}  # paging went on past the unreadable page
    read_to = datetime.fromisoformat(newest_of_page_2[0].replace("Z", "+00:00"))
    asked.clear()
    assert run_sync(db, env, "--source", "iinsight").returncode == 0
    assert asked[0]["modified_since"] == quote((read_to - timedelta(seconds=300)).strftime("%Y-%m-%dT%H:%M:%SZ"))


def test_a_row_moved_onto_an_unreadable_iinsight_page_still_triggers_the_re_scan(cluster, tmp_path):
    """Page-number paging: after page 2 is served an invoice on page 1 changes and moves to the end, so the
    row that began page 3 slides onto page 2 and is skipped. The moved invoice now sits on the last page,
    which is not JSON: the scan cannot see the move on its own. The one page of rows changed since the scan
    began tells it, the status is read again, and the skipped row loads; the next sync loads the rest."""
    firm = Firm(seed=1, size="demo", now=NOW)
    active = firm.query("SELECT invoice_id FROM iinsight_invoices WHERE status = 'ACTIVE' "
                        "ORDER BY last_update_utc, invoice_id")
    moved, skipped = active[0][0], active[200][0]  # the first row of page 1; the first of page 3
    last_page = str((len(active) - 1) // 100 + 1)
    state = {"moved": False, "down": True}

    def before(scope):
        q = params(scope)
        if state["down"] and state["moved"] and q.get("status") == "active" and q.get("page") == last_page:
            return 200, b"<html>Internal error</html>", {"content-type": "text/html"}
        return None

    def after(scope, status, body):
        q = params(scope)
        if not state["moved"] and (q.get("status"), q.get("page")) == ("active", "2"):
            state["moved"] = True
            firm.write(lambda con, t: con.execute(
                "UPDATE iinsight_invoices SET last_update_utc = ? WHERE invoice_id = ?", [t, moved]).fetchall())

    sims = cluster(firm, before={"iinsight": before}, after={"iinsight": after})
    db = tmp_path / "w.duckdb"
    env = sync_env(sims, SOURCES__IINSIGHT__API_VERSION=2, SOURCES__IINSIGHT__MAX_IN_FLIGHT=1,
                   **fast_retries(0.05))
    first = run_sync(db, env, "--source", "iinsight")
    assert first.returncode == 0 and "quarantined" in first.stderr, first.describe()
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM iinsight.invoices WHERE invoice_id = ?",
                           [str(skipped)]).fetchone() == (1,)
    state["down"] = False
    assert run_sync(db, env, "--source", "iinsight").returncode == 0
    result = reconcile(db, firm, reports=False)
    assert result.tables["iinsight_invoices"].differences == 0, result.summary()
