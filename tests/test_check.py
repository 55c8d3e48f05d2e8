"""``arwip check`` against the simulators over real HTTP: every entity ok; an optional endpoint forbidden or
missing (exit 0); a core endpoint missing, refused credentials, an unreachable host, an answer that is not JSON
(exit 1); a missing key (exit 2, nothing requested). No secret is printed; no warehouse is written."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from typer.testing import CliRunner

from pipelines.check import check
from pipelines.cli import app
from simulators import SimSettings

EVERY_ENTITY = [
    ("aiwyn", "wip"),
    ("aiwyn", "invoices"),
    ("aiwyn", "payments"),
    ("aimsio", "nrbs"),
    ("aimsio", "job_orders"),
    ("iinsight", "invoices"),
    ("iinsight", "payments"),
    ("iinsight", "billings"),
]


def run_check(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["check", *args])
    return result.exit_code, result.output


def results(sources: list[str] | None = None) -> dict[tuple[str, str], str]:
    return {(p.source, p.entity): p.result for p in check(sources)}


def test_every_entity_of_every_source_is_ok(simulators, tmp_path, monkeypatch):
    cluster = simulators()
    monkeypatch.chdir(tmp_path)
    probes = check()
    assert [(p.source, p.entity) for p in probes] == EVERY_ENTITY
    assert all(p.ok and p.ms > 0 and not p.hint for p in probes)
    assert [p.endpoint for p in probes][-3:] == ["/api1/invoices", "/api1/payments", "/api1/billings"]
    code, output = run_check()
    assert code == 0 and "every core entity works" in output
    settings = SimSettings()
    for secret in (settings.jwt_api_key, settings.aimsio_password, settings.iinsight_client_secret):
        assert secret not in output
    assert list(tmp_path.iterdir()) == []  # nothing written
    assert cluster.stats["aiwyn"]["requests"] >= 4  # a token, one row of each entity, one invoice detail


@pytest.mark.parametrize(("state", "result"), [("off", "missing"), ("forbidden", "forbidden")])
def test_an_optional_endpoint_that_does_not_answer_is_reported_but_passes(simulators, state, result):
    cluster = simulators()
    cluster.set_endpoint("aimsio.job_orders", state)
    assert results(["aimsio"]) == {("aimsio", "nrbs"): "ok", ("aimsio", "job_orders"): result}
    code, output = run_check("--source", "aimsio")
    assert code == 0
    assert "NRB client names fall back to the job number" in output


def test_a_core_endpoint_that_is_missing_fails(simulators, monkeypatch):
    cluster = simulators()
    monkeypatch.setenv("SOURCES__AIWYN__BASE_URL", cluster.urls["aiwyn"] + "/nothing")
    code, output = run_check("--source", "aiwyn")
    assert code == 1 and "3 core entities not working" in output
    assert set(results(["aiwyn"]).values()) == {"missing"}  # the token endpoint, the first thing asked for


def test_refused_credentials(simulators, monkeypatch):
    simulators()
    monkeypatch.setenv("SOURCES__AIMSIO__PASSWORD", "wrong-password")
    monkeypatch.setenv("SOURCES__IINSIGHT__PASSWORD", "wrong-password")
    found = results(["aimsio", "iinsight"])
    assert set(found.values()) == {"bad credentials"}
    code, output = run_check("--source", "aimsio", "--source", "iinsight")
    assert code == 1 and "wrong-password" not in output and "SOURCES__AIMSIO__PASSWORD" in output


def test_an_unreachable_host(simulators, monkeypatch):
    simulators()
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("SOURCES__IINSIGHT__BASE_URL", f"http://127.0.0.1:{port}")
    assert results(["iinsight"]) == dict.fromkeys(
        [("iinsight", "invoices"), ("iinsight", "payments"), ("iinsight", "billings")], "unreachable"
    )
    code, output = run_check("--source", "iinsight")
    assert code == 1 and "SOURCES__IINSIGHT__BASE_URL" in output


@pytest.fixture
def html_server() -> Iterator[str]:
    """A web server answering every request 200 with an HTML page (a base URL that is not the API's)."""

    class Html(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<html><body>maintenance</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Html)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_an_answer_that_is_not_json(simulators, monkeypatch, html_server):
    simulators()
    monkeypatch.setenv("SOURCES__AIMSIO__BASE_URL", html_server)
    assert set(results(["aimsio"]).values()) == {"not JSON"}


def test_a_missing_key_is_a_configuration_error(simulators, monkeypatch):
    cluster = simulators()
    monkeypatch.delenv("SOURCES__AIWYN__JWT_API_KEY")
    monkeypatch.delenv("SOURCES__IINSIGHT__USERNAME")
    code, output = run_check()
    assert code == 2
    assert "SOURCES__AIWYN__JWT_API_KEY" in output and "SOURCES__IINSIGHT__USERNAME" in output
    assert all(s["requests"] == 0 for s in cluster.stats.values())  # nothing was requested


def test_an_unknown_source_is_refused(simulators):
    simulators()
    code, output = run_check("--source", "quickbooks")
    assert code == 2 and "unknown source 'quickbooks'" in output
