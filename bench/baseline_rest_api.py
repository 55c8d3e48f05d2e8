"""The head-to-head baseline: dlt's own ``rest_api`` source over the same three APIs, into DuckDB.

``python bench/baseline_rest_api.py --db PATH`` (base URLs and credentials from the same ``SOURCES__*``
environment as arwip) reads everything arwip reads, with dlt's stock machinery and default settings:

- **Aiwyn**: the list endpoints ``POST /gql/v1/wip``, ``/gql/v1/invoices``, ``/gql/v1/payments`` with a
  JSON body ``{"pageSize": 1000, "page": 0}`` (``--page-size``: 1000 is the API's maximum and arwip's page;
  the vendor's own examples send 25) paged by ``PageNumberPaginator(page_body_path="page",
  base_page=0, total_path=None)`` (stops on the first empty page), data selector ``deid_wip`` /
  ``deid_invoice`` / ``deid_payment``; each invoice's detail ``GET /gql/v1/invoice/{id}`` as a dependent
  resource (line items and payments land in its nested child tables). Auth: the JWT is fetched **once**
  here (``POST /v1/auth/token``) and passed as a static bearer token (``rest_api`` has no Aiwyn token
  exchange; the token lives an hour, longer than the medium run).
- **Aimsio**: ``GET /rest/api/standard/v1/NonRecurringBillableItem`` and ``/JobOrder`` (data selector
  ``value``, single page) + the detail per guid as dependent resources, HTTP Basic. ``rest_api`` has no
  client-side rate limit; it sends one request at a time, so the server's 10/s queue paces it.
- **iinsight**: ``GET /api1/invoices`` and ``/api1/payments`` once per status (``active``, ``voided``) with
  ``modified_since=2000-01-01T00:00:00Z`` and ``page`` from 1 (``PageNumberPaginator(base_page=1,
  total_path=None)``, stops on the empty page); ``GET /api1/billings`` with ``limit=1000``, data selector
  ``data``; the bearer token from ``POST /auth/login`` fetched once.

Defaults everywhere else: dict rows, dlt's JSON normalizer and nesting, ``append``, the DuckDB
destination's default loader file format (``insert_values``), resources extracted round-robin one request
at a time. The orchestration is arwip's own (:mod:`pipelines.sync`): one pipeline per source, the three
extractions in concurrent threads, then normalize + load one at a time, so the comparison isolates the
sources. Prints one ``RESULT`` JSON line: ``seconds``, ``aiwyn_page_size``, per source ``extract_s`` / ``normalize_s`` /
``load_s`` and rows per table, ``self_maxrss_mb``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import dlt
import httpx
from dlt.sources.helpers.rest_client.paginators import PageNumberPaginator
from dlt.sources.rest_api import rest_api_source

AIWYN_LISTS = {"wip": "deid_wip", "invoices": "deid_invoice", "payments": "deid_payment"}
AIMSIO_PREFIX = "rest/api/standard/v1"
IINSIGHT_STATUSES = ("active", "voided")
EPOCH = "2000-01-01T00:00:00Z"


def env(key: str) -> str:
    """A required ``SOURCES__*`` setting from the environment."""
    value = os.environ.get(key)
    if not value:
        raise SystemExit(f"set {key} (sync_bench.py sets it from the simulators)")
    return value


def aiwyn_token(base_url: str, api_key: str) -> str:
    """Exchange the API key for a JWT once (``POST /v1/auth/token``)."""
    answer = httpx.post(f"{base_url}/v1/auth/token", json={"jwtApiKey": api_key}, timeout=30)
    answer.raise_for_status()
    return str(answer.json()["accessToken"])


def iinsight_token(base_url: str, client_id: str, client_secret: str, username: str, password: str) -> str:
    """Password-grant login once (``POST /auth/login``), returns the access token."""
    answer = httpx.post(
        f"{base_url}/auth/login",
        auth=(client_id, client_secret),
        data={"grant_type": "password", "username": username, "password": password},
        timeout=30,
    )
    answer.raise_for_status()
    return str(answer.json()["access_token"])


def aiwyn_config(base_url: str, token: str, page_size: int) -> dict[str, Any]:
    """``rest_api`` config of Aiwyn: three paged lists (``page_size`` rows a page) and the invoice detail per
    invoice."""
    lists: list[Any] = [
        {
            "name": name,
            "endpoint": {
                "path": f"gql/v1/{name}",
                "method": "POST",
                "json": {"pageSize": page_size, "page": 0},
                "paginator": PageNumberPaginator(base_page=0, page_body_path="page", total_path=None),
                "data_selector": selector,
            },
        }
        for name, selector in AIWYN_LISTS.items()
    ]
    detail = {
        "name": "invoice_details",
        "endpoint": {
            "path": "gql/v1/invoice/{resources.invoices.id}",
            "paginator": "single_page",
            "data_selector": "$",
        },
    }
    return {"client": {"base_url": base_url, "auth": {"type": "bearer", "token": token}}, "resources": [*lists, detail]}


def aimsio_config(base_url: str, username: str, password: str) -> dict[str, Any]:
    """``rest_api`` config of Aimsio: stub lists and the detail per guid (NRBs and job orders)."""
    resources: list[Any] = []
    for entity, name in (("NonRecurringBillableItem", "nrbs"), ("JobOrder", "job_orders")):
        resources.append(
            {
                "name": f"{name}_stubs",
                "endpoint": {"path": f"{AIMSIO_PREFIX}/{entity}", "paginator": "single_page", "data_selector": "value"},
            }
        )
        resources.append(
            {
                "name": name,
                "endpoint": {
                    "path": f"{AIMSIO_PREFIX}/{entity}/{{resources.{name}_stubs.guid}}",
                    "paginator": "single_page",
                    "data_selector": "$",
                },
            }
        )
    auth = {"type": "http_basic", "username": username, "password": password}
    return {"client": {"base_url": base_url, "auth": auth}, "resources": resources}


def iinsight_config(base_url: str, token: str) -> dict[str, Any]:
    """``rest_api`` config of iinsight: invoices and payments per status, page numbers from 1 until an empty page;
    billings ``limit`` 1000 (the API's maximum) a page, page numbers from 1 until an empty ``data``."""
    resources: list[Any] = [
        {
            "name": f"{entity}_{status}",
            "table_name": entity,
            "endpoint": {
                "path": f"api1/{entity}",
                "params": {"status": status, "modified_since": EPOCH},
                "paginator": PageNumberPaginator(base_page=1, page_param="page", total_path=None),
            },
        }
        for entity in ("invoices", "payments")
        for status in IINSIGHT_STATUSES
    ]
    resources.append(
        {
            "name": "billings",
            "endpoint": {
                "path": "api1/billings",
                "params": {"limit": 1000},
                "paginator": PageNumberPaginator(base_page=1, page_param="page", total_path=None),
                "data_selector": "data",
            },
        }
    )
    return {"client": {"base_url": base_url, "auth": {"type": "bearer", "token": token}}, "resources": resources}


def baseline_sources(page_size: int) -> dict[str, Any]:
    """The three ``rest_api`` sources, configured from the ``SOURCES__*`` environment (tokens fetched once);
    ``page_size``: Aiwyn's list pages."""
    aiwyn_url = env("SOURCES__AIWYN__BASE_URL")
    iinsight_url = env("SOURCES__IINSIGHT__BASE_URL")
    jwt = aiwyn_token(aiwyn_url, env("SOURCES__AIWYN__JWT_API_KEY"))
    bearer = iinsight_token(
        iinsight_url,
        env("SOURCES__IINSIGHT__CLIENT_ID"),
        env("SOURCES__IINSIGHT__CLIENT_SECRET"),
        env("SOURCES__IINSIGHT__USERNAME"),
        env("SOURCES__IINSIGHT__PASSWORD"),
    )
    return {
        "aiwyn": rest_api_source(aiwyn_config(aiwyn_url, jwt, page_size), name="aiwyn"),
        "aimsio": rest_api_source(
            aimsio_config(
                env("SOURCES__AIMSIO__BASE_URL"), env("SOURCES__AIMSIO__USERNAME"), env("SOURCES__AIMSIO__PASSWORD")
            ),
            name="aimsio",
        ),
        "iinsight": rest_api_source(iinsight_config(iinsight_url, bearer), name="iinsight"),
    }


def run_one(name: str, source: Any, db: Path, lock: threading.Lock) -> dict[str, Any]:
    """Extract one source (concurrently with the others), then normalize and load it under ``lock``."""
    pipeline = dlt.pipeline(
        pipeline_name=f"baseline_{name}",
        destination=dlt.destinations.duckdb(str(db.resolve())),
        dataset_name=name,
        pipelines_dir=str(db.resolve().parent / ".baseline" / db.name),
    )
    out: dict[str, Any] = {}
    started = time.perf_counter()
    pipeline.extract(source)
    out["extract_s"] = round(time.perf_counter() - started, 3)
    with lock:
        step = time.perf_counter()
        info = pipeline.normalize()
        out["normalize_s"] = round(time.perf_counter() - step, 3)
        step = time.perf_counter()
        pipeline.load()
        out["load_s"] = round(time.perf_counter() - step, 3)
    out["seconds"] = round(time.perf_counter() - started, 3)
    out["rows"] = {k: v for k, v in dict(info.row_counts).items() if not k.startswith("_dlt")}
    return out


def main(argv: list[str] | None = None) -> None:
    """Run the baseline into ``--db`` and print the ``RESULT`` JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--page-size", type=int, default=1000, help="Aiwyn list page size (default 1000, the max)")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    sources = baseline_sources(args.page_size)
    lock = threading.Lock()
    with ThreadPoolExecutor(len(sources), thread_name_prefix="baseline") as pool:
        futures = {name: pool.submit(run_one, name, source, args.db, lock) for name, source in sources.items()}
        results = {name: future.result() for name, future in futures.items()}
    seconds = time.perf_counter() - started
    result = {
        "seconds": round(seconds, 3),
        "aiwyn_page_size": args.page_size,
        "sources": results,
        "rows_loaded": sum(sum(r["rows"].values()) for r in results.values()),
        "self_maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
