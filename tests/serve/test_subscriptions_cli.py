"""``arwip subscriptions list | create | delete | rotate`` against the Aiwyn simulator: the secrets land in
``.dlt/secrets.toml`` (owner-only, other keys kept) and are never printed, unless ``--print-env`` asks for the
line to set; what is kept verifies the simulator's deliveries."""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
import tomlkit
from typer.testing import CliRunner

from pipelines.cli import app
from simulators import SimSettings, SimulatorCluster, Webhooks
from tests.serve.harness import aiwyn_admin

HOOK = "https://arwip.example.com/webhooks/aiwyn"


def secrets_in(folder: Path) -> list[str]:
    return list(tomlkit.parse((folder / ".dlt" / "secrets.toml").read_text())["sources"]["aiwyn"]["webhook_secret"])


def secret_of(cluster: SimulatorCluster, subscription_id: str) -> str:
    with aiwyn_admin(cluster) as client:
        return str(client.get(f"/api/v1/event-subscriptions/{subscription_id}/secret").json()["data"]["secret"])


def test_create_list_rotate_delete_keep_the_secrets_and_never_print_them(
    simulators: Callable[..., SimulatorCluster], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster = simulators(settings=SimSettings(webhooks=Webhooks(retry_scale=0.01)))
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".dlt").mkdir()
    (tmp_path / ".dlt" / "secrets.toml").write_text('# mine\n[sources.aimsio]\npassword = "kept"\n')
    runner = CliRunner()

    created = runner.invoke(app, ["subscriptions", "create", "--url", HOOK, "--entity", "wip", "--entity", "payment"])
    assert created.exit_code == 0, created.output
    first = created.output.split("created subscription ")[1].split(":")[0]
    assert secrets_in(tmp_path) == [secret_of(cluster, first)]
    text = (tmp_path / ".dlt" / "secrets.toml").read_text()
    assert text.startswith("# mine") and 'password = "kept"' in text
    assert "whsec_" not in created.output and "stored in" in created.output

    listed = runner.invoke(app, ["subscriptions", "list"])
    assert listed.exit_code == 0 and HOOK in listed.output and "wip, payment" in listed.output
    assert "whsec_" not in listed.output

    second = runner.invoke(app, ["subscriptions", "create", "--url", HOOK + "?b"]).output
    second_id = second.split("created subscription ")[1].split(":")[0]
    assert secrets_in(tmp_path) == [secret_of(cluster, first), secret_of(cluster, second_id)]

    old = secret_of(cluster, first)
    rotated = runner.invoke(app, ["subscriptions", "rotate", first])
    assert rotated.exit_code == 0 and "whsec_" not in rotated.output
    assert secrets_in(tmp_path) == [secret_of(cluster, first), old, secret_of(cluster, second_id)] != [old]

    deleted = runner.invoke(app, ["subscriptions", "delete", first])
    assert deleted.exit_code == 0, deleted.output
    assert secrets_in(tmp_path) == [secret_of(cluster, second_id)]
    mode = stat.S_IMODE((tmp_path / ".dlt" / "secrets.toml").stat().st_mode)
    assert mode == 0o644  # the file existed: its mode is kept


def test_print_env_gives_the_line_to_set_and_writes_nothing(
    simulators: Callable[..., SimulatorCluster], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster = simulators()
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    result = runner.invoke(app, ["subscriptions", "create", "--url", HOOK, "--print-env"])
    assert result.exit_code == 0, result.output
    sub = result.output.split("created subscription ")[1].split(":")[0]
    first = secret_of(cluster, sub)
    assert f"SOURCES__AIWYN__WEBHOOK_SECRET={first}\n" in result.output
    assert not (tmp_path / ".dlt").exists()
    rotated = runner.invoke(app, ["subscriptions", "rotate", sub, "--print-env"]).output
    line = next(x for x in rotated.splitlines() if x.startswith("SOURCES__AIWYN__WEBHOOK_SECRET="))
    assert orjson.loads(line.split("=", 1)[1].strip("'")) == [secret_of(cluster, sub), first]
    assert not (tmp_path / ".dlt").exists()


def test_a_new_secrets_file_is_owner_only_and_errors_are_one_line(
    simulators: Callable[..., SimulatorCluster], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    simulators()
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    assert runner.invoke(app, ["subscriptions", "create", "--url", HOOK]).exit_code == 0
    assert stat.S_IMODE((tmp_path / ".dlt" / "secrets.toml").stat().st_mode) == 0o600
    wrong = runner.invoke(app, ["subscriptions", "create", "--url", HOOK, "--entity", "nrb"])
    assert wrong.exit_code == 1 and "--entity nrb: aiwyn offers wip, invoice, payment" in wrong.output
    missing = runner.invoke(app, ["subscriptions", "delete", "999"])
    assert missing.exit_code == 1 and "no event subscription 999" in missing.output
    other = runner.invoke(app, ["subscriptions", "list", "--source", "aimsio"])
    assert other.exit_code == 1 and "aimsio sends no webhooks" in other.output
