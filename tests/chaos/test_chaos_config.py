"""Bad configuration: ``arwip sync`` says in one clear line which key to fix, exits 2, shows no traceback,
and does not hang.

The unreachable-URL case caps the retry backoff (``SOURCES__<SOURCE>__BACKOFF_MAX_S``, ``harness.fast_retries``): with
the product's 8 attempts and 30 s backoff cap, a refused connection takes ~15-30 s to be given up on.
"""

from __future__ import annotations

import socket

import pytest

from tests.chaos.harness import fast_retries, run_sync, sync_env


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _without(env: dict[str, str], key: str) -> dict[str, str]:
    return {k: v for k, v in env.items() if k != key}


CASES = {
    # name: (source, environment change, key the message must name)
    "missing api key": ("aiwyn", lambda env: _without(env, "SOURCES__AIWYN__JWT_API_KEY"),
                        "SOURCES__AIWYN__JWT_API_KEY"),
    "wrong api key": ("aiwyn", lambda env: {**env, "SOURCES__AIWYN__JWT_API_KEY": "nope"},
                      "SOURCES__AIWYN__JWT_API_KEY"),
    "wrong aimsio password": ("aimsio", lambda env: {**env, "SOURCES__AIMSIO__PASSWORD": "nope"},
                              "SOURCES__AIMSIO__PASSWORD"),
    "wrong iinsight client secret": ("iinsight", lambda env: {**env, "SOURCES__IINSIGHT__CLIENT_SECRET": "nope"},
                                     "SOURCES__IINSIGHT__CLIENT_SECRET"),
    "wrong iinsight password": ("iinsight", lambda env: {**env, "SOURCES__IINSIGHT__PASSWORD": "nope"},
                                "SOURCES__IINSIGHT__PASSWORD"),
    "unreachable base url": ("aiwyn", lambda env: {**env, "SOURCES__AIWYN__BASE_URL": f"http://127.0.0.1:{_closed_port()}"},
                             "SOURCES__AIWYN__BASE_URL"),
    "malformed start date": ("aiwyn", lambda env: {**env, "SOURCES__AIWYN__START_DATE": "31/12/2024"},
                             "SOURCES__AIWYN__START_DATE"),
}
XFAIL: dict[str, str] = {}


@pytest.mark.parametrize(
    "case", [pytest.param(c, marks=pytest.mark.xfail(strict=True, reason=XFAIL[c])) if c in XFAIL else c for c in CASES]
)
def test_bad_configuration_is_one_clear_error(cluster, tmp_path, case):
    source, change, key = CASES[case]
    sims = cluster("tiny")
    env = change(sync_env(sims, **fast_retries(0.2)))
    result = run_sync(tmp_path / "w.duckdb", env, "--source", source)
    assert not result.hung and "Traceback" not in result.output, result.describe()
    assert key in result.error_message(), result.describe()
    assert result.returncode == 2, result.describe()


def test_a_long_error_is_still_one_line(cluster, tmp_path):
    sims = cluster("tiny")
    env = {**sync_env(sims), "SOURCES__AIMSIO__PASSWORD": "nope"}
    result = run_sync(tmp_path / "w.duckdb", env, "--source", "aimsio")
    assert result.returncode == 2 and len(result.error_message()) > 120, result.describe()
    assert len(result.error_lines()) == 1, result.error_lines()
