"""The pieces under ``arwip serve``: the schedule and secret keys of the configuration, Aiwyn's hints from
events, a targeted sync of only the hinted entities, and deletes reported by webhooks."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from pipelines.reconcile import mark_deleted
from pipelines.sync import sync
from simulators import SimulatorCluster
from sources import registry
from sources._config import Setting
from sources._http import ConfigError
from sources.aiwyn.webhooks import parse_event
from tests.serve.harness import event_body

AIWYN = registry.get("aiwyn")
REQUIRED = {"base_url": "http://127.0.0.1:1", "jwt_api_key": "k"}


@pytest.mark.parametrize(("text", "seconds"), [(90, 90), ("90", 90), ("90s", 90), ("15m", 900), ("24h", 86_400),
                                               ("1d", 86_400), ("1.5h", 5_400), (" 2M ", 120)])
def test_durations_are_seconds_or_text_with_a_unit(text: object, seconds: int) -> None:
    config = AIWYN.config({**REQUIRED, "poll_interval": text})
    assert config["poll_interval"] == timedelta(seconds=seconds)
    assert config["reconcile_every"] == timedelta(hours=24)


@pytest.mark.parametrize("text", ["soon", "-5", "5 minutes", "15x"])
def test_a_bad_duration_names_its_key(text: str) -> None:
    with pytest.raises(ConfigError, match=r"SOURCES__AIWYN__POLL_INTERVAL=.* is not a duration"):
        AIWYN.config({**REQUIRED, "poll_interval": text})


def test_every_vendor_has_the_schedule_keys_and_they_are_not_source_arguments() -> None:
    for vendor in registry.vendors():
        keys = {s.key for s in vendor.config_keys}
        assert {"poll_interval", "reconcile_every"} <= keys, vendor.name
    assert Setting("poll_interval").env("iinsight") == "SOURCES__IINSIGHT__POLL_INTERVAL"


@pytest.mark.parametrize(("value", "secrets"), [
    ("whsec_a", ("whsec_a",)),
    ("whsec_a, whsec_b", ("whsec_a", "whsec_b")),
    ('["whsec_a", "whsec_b"]', ("whsec_a", "whsec_b")),
    (["whsec_a", "whsec_b"], ("whsec_a", "whsec_b")),
    ("", ()),
])
def test_the_webhook_secret_is_one_or_a_list(value: object, secrets: tuple[str, ...],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    assert AIWYN.config({**REQUIRED, "webhook_secret": value})["webhook_secret"] == secrets
    monkeypatch.setenv("SOURCES__AIWYN__WEBHOOK_SECRET", '["whsec_a", 5]')
    with pytest.raises(ConfigError, match="SOURCES__AIWYN__WEBHOOK_SECRET must be a list of strings"):
        AIWYN.config(REQUIRED)


def test_hints_name_the_entities_and_the_deleted_records() -> None:
    hooks = AIWYN.webhooks
    assert hooks is not None
    events = [parse_event(event_body(f"evt_{n}", i, entity, op)) for n, (i, entity, op) in enumerate([
        (1, "wip", "UPDATE"), (2, "wip", "DELETE"), (1, "wip", "UPDATE"), (7, "payment", "DELETE"),
        (9, "invoice", "CREATE"), (2, "wip", "DELETE")])]
    hints = hooks.hints(events)
    assert hints.entities == {"wip", "payments", "invoices"}
    assert hints.deleted == {"wip": {"2"}, "payments": {"7"}}
    assert hooks.hints([]).entities == frozenset() and events[0].source == "aiwyn"


def test_a_targeted_sync_reads_only_the_hinted_entities_and_marks_deletes_once(
    simulators: Callable[..., SimulatorCluster], warehouse: Path
) -> None:
    cluster = simulators(size="tiny", seed=9)
    sync(warehouse, ["aiwyn"])
    firm = cluster.firm
    firm.write(lambda con, t: con.execute("update aiwyn_invoices set updated_at = ? where id = (select min(id) from "
                                          "aiwyn_invoices)", [t]))
    (run,) = sync(warehouse, ["aiwyn"], entities={"aiwyn": ["wip"]}, deleted={"aiwyn": {"wip": ["100001", "42"]}})
    assert set(run.resources) == {"wip"} and run.marked_deleted == 2 and run.reconciled == []
    with duckdb.connect(str(warehouse), read_only=True) as con:
        first = dict(con.execute("select guid, deleted_at from aiwyn.deletions").fetchall())
        newest_invoice = con.execute("select max(updated_at) from aiwyn.invoices").fetchone()[0]
    assert set(first) == {"100001", "42"} and newest_invoice < firm.now  # invoices were not read
    assert mark_deleted(warehouse, AIWYN, {"wip": ["100001"]}) == 0  # already soft-deleted: deleted_at kept
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert dict(con.execute("select guid, deleted_at from aiwyn.deletions").fetchall()) == first
