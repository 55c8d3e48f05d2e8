"""Every CLI command has help text and is documented in the README."""

from pathlib import Path

from typer.testing import CliRunner

from pipelines.cli import app

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_every_command_has_help_and_is_in_the_readme():
    runner = CliRunner()
    commands = [c.name or c.callback.__name__ for c in app.registered_commands]
    assert {"sync", "report", "simulate", "demo", "verify"} <= set(commands)
    for name in commands:
        result = runner.invoke(app, [name, "--help"])
        assert result.exit_code == 0, result.output
        assert len(result.output) > 100
        assert f"arwip {name}" in README, f"`arwip {name}` is not documented in README.md"


def test_report_on_a_missing_warehouse_is_one_clear_line(tmp_path):
    result = CliRunner().invoke(app, ["report", "aging", "--db", str(tmp_path / "nope.duckdb")])
    assert result.exit_code == 1
    assert "no warehouse at" in result.output and "Traceback" not in result.output
