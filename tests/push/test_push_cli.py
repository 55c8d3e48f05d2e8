"""The ``arwip push`` commands: help and README, the plan and outcome they print, exit codes, ``push status``,
and no secret in their output or the ledger."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path

import duckdb
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.push.cli import EXIT_ROWS_FAILED
from simulators import SimSettings, SimulatorCluster
from sources import registry
from tests.push.helpers import nrb, write_csv

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
Sims = Callable[..., SimulatorCluster]


def arwip(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["push", *args])
    return result.exit_code, result.output


def test_every_push_command_has_help_and_is_in_the_readme() -> None:
    names = [*registry.push_targets(), "status"]
    assert names[:3] == ["aiwyn-records", "aimsio-nrbs", "iinsight-transfer"]
    for name in names:
        code, output = arwip(name, "--help")
        assert code == 0 and len(output) > 200, output
        assert "--db" in output and (name == "status" or ("--apply" in output and "--retry-failed" in output))
        assert f"arwip push {name}" in README, f"`arwip push {name}` is not documented in README.md"
    for column in ("push_id", "payload_sha256", "error_field", "attempt", "recorded_at"):
        assert f"`{column}`" in README


def test_plan_apply_status_and_no_secret(simulators: Sims, warehouse: Path, tmp_path: Path) -> None:
    s = SimSettings(jwt_api_key=f"key-{secrets.token_hex(8)}", aimsio_password=f"pw-{secrets.token_hex(8)}")
    simulators(settings=s)
    csv = write_csv(tmp_path / "nrbs.csv", [nrb(1), nrb(2, nrbAccountType="Maybe"),
                                            nrb(3, nrbJobOrderNumber="JOB-NOPE")])
    db = ["--db", str(warehouse)]
    code, plan = arwip("aimsio-nrbs", "--csv", str(csv), *db)
    assert code == EXIT_ROWS_FAILED  # an invalid row
    assert "arwip push aimsio-nrbs (dry run)" in plan
    assert "plan: 2 create(s), 0 update(s), 0 delete(s), 0 unchanged, 1 invalid" in plan
    assert "ARWIP-0002  nrbAccountType: nrbAccountType must be one of Billable, Not Billable, got 'Maybe'" in plan
    assert "dry run: nothing sent" in plan and not warehouse.exists()

    code, applied = arwip("aimsio-nrbs", "--csv", str(csv), *db, "--apply")
    assert code == EXIT_ROWS_FAILED
    assert ": 1 applied, 1 failed (1 batch(es)" in applied
    assert "ARWIP-0003  NOT_IMPORTED nrbJobOrderNumber: nrbJobOrderNumber must be an existing job number" in applied

    code, status = arwip("status", *db)
    assert code == 0 and "aimsio-nrbs" in status and "done" in status
    code, failed = arwip("status", "--failed", *db)
    assert code == 0 and "ARWIP-0003" in failed and "NOT_IMPORTED" in failed and "ARWIP-0002" in failed
    assert "ARWIP-0001" not in failed

    fixed = write_csv(tmp_path / "fixed.csv", [nrb(1), nrb(2), nrb(3)])
    code, retried = arwip("aimsio-nrbs", "--csv", str(fixed), *db, "--apply", "--retry-failed")
    assert code == 0, retried
    assert "plan: 2 create(s), 0 update(s), 0 delete(s), 0 unchanged, 0 invalid, 1 skipped" in retried
    assert arwip("status", "--failed", *db)[1].count("ARWIP-") == 0

    with duckdb.connect(str(warehouse), read_only=True) as con:
        text = " ".join(str(v) for row in con.execute("select * from push.ledger").fetchall() for v in row)
        text += " ".join(str(v) for row in con.execute("select * from push.runs").fetchall() for v in row)
    for secret in (s.jwt_api_key, s.aimsio_password):
        assert secret not in text and all(secret not in o for o in (plan, applied, status, failed, retried))


def test_usage_errors_are_one_line(warehouse: Path, tmp_path: Path) -> None:
    code, output = arwip("aimsio-nrbs", "--db", str(warehouse))
    assert code == 1 and "error: give exactly one of --sql FILE or --csv FILE" in output
    code, output = arwip("aiwyn-records", "--type", "client", "--db", str(warehouse))
    assert code == 1 and "--type and --key go with --sql FILE" in output
    code, output = arwip("status", "--db", str(tmp_path / "none.duckdb"))
    assert code == 1 and "no warehouse at" in output
