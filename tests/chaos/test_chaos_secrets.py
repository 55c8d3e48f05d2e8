"""Secrets (API key, passwords, client secret, the tokens the APIs issued) never show up in the output of a
sync, a failing sync (with dlt's progress log and ``ARWIP_DEBUG`` tracebacks on), dlt's working folders and
traces, or the warehouse and its BI snapshot; TLS verification is on by default."""

from __future__ import annotations

import base64
import json
import secrets
import ssl
from pathlib import Path

import duckdb
from dlt.common.versioned_state import decompress_state

from simulators import SimSettings
from sources._http import HttpSettings
from sources.aimsio.client import aimsio_client
from sources.aiwyn.client import aiwyn_client
from sources.iinsight.client import iinsight_client
from tests.chaos.harness import run_arwip, run_sync, sync_env

TOKEN_PATHS = ("/v1/auth/token", "/auth/login", "/auth/refresh")


def _secret(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(8)}"


def _text_values(db: Path) -> list[str]:
    """Every text value of every table of a DuckDB file, plus dlt's compressed pipeline states, decoded."""
    out: list[str] = []
    with duckdb.connect(str(db), read_only=True) as con:
        columns = con.execute(
            "SELECT table_schema, table_name, column_name FROM information_schema.columns "
            "WHERE data_type IN ('VARCHAR', 'JSON') AND table_catalog = current_database()"
        ).fetchall()
        for schema, table, column in columns:
            rows = con.execute(f'SELECT DISTINCT "{column}" FROM "{schema}"."{table}" WHERE "{column}" IS NOT NULL'
                               ).fetchall()
            out += [r[0] for r in rows]
            if table == "_dlt_pipeline_state" and column == "state":
                out += [json.dumps(decompress_state(r[0])) for r in rows]
    return out


def test_no_secret_in_output_files_traces_or_warehouse(cluster, tmp_path):
    s = SimSettings(jwt_api_key=_secret("jwtkey"), aimsio_username="svc-aimsio", aimsio_password=_secret("aimspw"),
                    iinsight_client_id="svc-client", iinsight_client_secret=_secret("csecret"),
                    iinsight_username="svc-iinsight", iinsight_password=_secret("iipw"))
    issued: set[str] = set()

    def grab(scope, status, body):
        if status == 200 and scope["path"] in TOKEN_PATHS:
            issued.update(v for k, v in json.loads(body).items() if "token" in k.lower() and isinstance(v, str))

    sims = cluster("tiny", s, after={"aiwyn": grab, "iinsight": grab})
    db = tmp_path / "w.duckdb"
    env = sync_env(sims, SOURCES__IINSIGHT__API_VERSION=2)
    wrong = {"SOURCES__AIWYN__JWT_API_KEY": _secret("wrongkey"), "SOURCES__IINSIGHT__PASSWORD": _secret("wrongpw")}
    runs = [
        run_sync(db, env),
        run_sync(db, {**env, **wrong, "ARWIP_DLT_PROGRESS": "1", "RUNTIME__LOG_LEVEL": "INFO"}),
        run_sync(db, {**env, **wrong, "ARWIP_DEBUG": "1"}),
        run_arwip(["verify", "--db", str(db)], env),
    ]
    assert runs[0].returncode == 0, runs[0].describe()
    assert runs[1].returncode == 2 and runs[2].returncode != 0, runs[1].describe()
    assert "Traceback" in runs[2].stderr  # ARWIP_DEBUG shows the exception chain: it must hold no secret either
    assert len(issued) >= 3  # an Aiwyn JWT, an iinsight access and refresh token

    values = [s.jwt_api_key, s.aimsio_password, s.iinsight_client_secret, s.iinsight_password, *wrong.values(),
              *issued]
    values += [base64.b64encode(f"{u}:{p}".encode()).decode() for u, p in (
        (s.aimsio_username, s.aimsio_password), (s.iinsight_client_id, s.iinsight_client_secret))]

    leaks = [f"output of `arwip {' '.join(r.args[:1])}` #{i}" for i, r in enumerate(runs)
             for v in values if v in r.output]
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "trace.pickle" for p in files) and any(p.name.endswith("-bi.duckdb") for p in files)
    leaks += [f"{p.relative_to(tmp_path)}" for p in files for v in values if v.encode() in p.read_bytes()]
    client = sims.firm.truth().aiwyn_invoices["client_name"][0].as_py()
    for p in files:
        if p.suffix == ".duckdb":
            text = "\n".join(_text_values(p))
            assert client in text, p  # the scan sees the data
            leaks += [f"{p.name} (a table value)" for v in values if v in text]
    assert leaks == []


def test_tls_verification_is_on_by_default():
    assert HttpSettings().verify_tls is True
    http = HttpSettings()
    clients = [aiwyn_client("https://example.invalid", "k", http),
               aimsio_client("https://example.invalid", "u", "p", http),
               iinsight_client("https://example.invalid", "c", "s", "u", "p", http)]
    for client in clients:
        context = client._http._transport._pool._ssl_context  # httpx → httpcore pool
        assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname, client.name
