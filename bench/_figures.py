"""The sync benchmark's arithmetic and output: per-API counters and bounds from the simulators' stats, the
budget used, the JSON figures against their targets, the tables and the py-spy summaries (all printed to stderr).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from _harness import AIMSIO_RATE_PER_S, IN_FLIGHT, VENDORS, console
from rich.table import Table

TARGETS = {
    "full_over_bound": ("<=", 1.3),
    "incremental_over_full": ("<=", 0.05),
    "aimsio_rps": (">=", 9.5),
    "aimsio_429": ("<=", 0),
    "baseline_over_full": (">=", 10.0),
    "peak_rss_mb": ("<=", 1536.0),
    "aging_report_s": ("<=", 0.5),
}
POSTGRES_TARGETS = {**TARGETS, "aging_report_s": ("<=", 1.0)}


def stats_delta(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per vendor, the counters that grew between two ``/_sim/stats`` snapshots."""
    out: dict[str, dict[str, Any]] = {}
    for vendor in VENDORS:
        a, b = before.get(vendor, {}), after.get(vendor, {})
        statuses = Counter({k: int(v) for k, v in b.get("by_status", {}).items()})
        statuses.subtract({k: int(v) for k, v in a.get("by_status", {}).items()})
        keys = (
            "requests",
            "throttled",
            "latency_ms_sum",
            "latency_rows",
            "latency_responses",
            "server_ms_sum",
            "db_ms_sum",
            "limited",
        )
        out[vendor] = {k: (b.get(k, 0) or 0) - (a.get(k, 0) or 0) for k in keys}
        out[vendor]["by_status"] = {k: v for k, v in statuses.items() if v}
        out[vendor]["peak_in_flight"] = b.get("peak_in_flight")
        out[vendor]["admitted_peak_per_s"] = b.get("admitted_peak_per_s")
    return out


def bounds(delta: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per API: the latency bound (latency ÷ concurrency; Aimsio also requests ÷ 10/s) and the same with the
    time the simulator took beyond the model (server time ÷ concurrency: the Aimsio queue, route work longer than
    the latency)."""
    out: dict[str, dict[str, float]] = {}
    for vendor, d in delta.items():
        latency_s = d["latency_ms_sum"] / 1000
        bound = latency_s / IN_FLIGHT[vendor]
        if vendor == "aimsio":
            bound = max(bound, d["requests"] / AIMSIO_RATE_PER_S)
        server_s = d["server_ms_sum"] / 1000
        out[vendor] = {
            "requests": d["requests"],
            "latency_s": round(latency_s, 3),
            "bound_s": round(bound, 3),
            "server_s": round(server_s, 3),
            "sim_overhead_ms": round((server_s - latency_s) * 1000 / max(1, d["requests"]), 2),
            "server_bound_s": round(max(bound, server_s / IN_FLIGHT[vendor]), 3),
        }
    return out


def billing_requests(scale: dict[str, Any]) -> dict[str, Any]:
    """The incremental sync's iinsight billing requests against the issue's target: (unbilled + new billings) /
    page size (1000) + a small constant (3: a page past the end, the new billings' page that reaches the old ones,
    one request of ids that left the unbilled set)."""
    kinds = scale["incremental"].result["http"].get("iinsight", {}).get("kinds", {})
    requests = int(kinds.get("billings", {}).get("requests", 0))
    new = scale["counts"].get("iinsight.billings", {}).get("new", 0)
    target = (scale["unbilled_billings"] + new) / 1000 + 3
    return {"requests": requests, "unbilled": scale["unbilled_billings"], "new": new, "target": round(target, 1)}


def utilization(http: dict[str, Any], api: str) -> tuple[float, float]:
    """(share of the API's budget in use over its phase, seconds of the phase with less than half of it in
    use) from a runner's per-API timeline. The budget is 8 in flight; for Aimsio, 10 requests per second
    (the share is then requests ÷ (phase × 10), and the second figure is not computed)."""
    h = http.get(api)
    if not h or not h.get("phase_s"):
        return 0.0, 0.0
    if api == "aimsio":
        return h["requests"] / (h["phase_s"] * AIMSIO_RATE_PER_S), 0.0
    budget = IN_FLIGHT[api]
    width = h["timeline_bucket_s"]
    start, end = h["first"] - h["timeline_origin"], h["last"] - h["timeline_origin"]
    under = 0.0
    for i, busy in enumerate(h["timeline_busy_s"]):
        lo, hi = max(start, i * width), min(end, (i + 1) * width)
        if hi > lo and busy / ((hi - lo) * budget) < 0.5:
            under += hi - lo
    return h["busy_s"] / (h["phase_s"] * budget), under


def figures(
    scale: dict[str, Any] | None, h2h: dict[str, Any] | None, loads: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The JSON line: the issue's keys (None where a part was skipped) plus detail keys."""
    fig: dict[str, Any] = dict.fromkeys(
        [
            "full_s",
            "incremental_s",
            "bound_s",
            "full_over_bound",
            "incremental_over_full",
            "aimsio_rps",
            "peak_rss_mb",
            "aging_report_s",
            "rows_loaded",
            "h2h_arwip_s",
            "h2h_baseline_s",
            "baseline_over_full",
        ]
    )
    if scale:
        full, incr = scale["full"].result, scale["incremental"].result
        fb = scale["full_bounds"]
        bound_s = max(b["bound_s"] for b in fb.values())
        stub_s = incr["http"].get("aimsio", {}).get("kinds", {}).get("stub_list", {}).get("busy_s", 0.0)
        aimsio_phase = full["http"].get("aimsio", {}).get("phase_s", 0.0)
        aimsio_requests = scale["full_delta"]["aimsio"]["requests"]
        fig.update(
            full_s=round(full["sync_s"], 2),
            incremental_s=round(incr["sync_s"], 2),
            bound_s=round(bound_s, 2),
            full_over_bound=round(full["sync_s"] / bound_s, 3) if bound_s else None,
            incremental_over_full=round((incr["sync_s"] - stub_s) / full["sync_s"], 4),
            aimsio_rps=round(aimsio_requests / aimsio_phase, 2) if aimsio_phase else None,
            peak_rss_mb=round(max(scale["full"].maxrss_mb, scale["incremental"].maxrss_mb), 1),
            aging_report_s=scale["reports"]["aging"]["median_s"],
            rows_loaded=scale["rows_loaded"],
        )
        fig.update(
            scale_size=scale["size"],
            incremental_over_full_raw=round(incr["sync_s"] / full["sync_s"], 4),
            incremental_aimsio_stub_s=round(stub_s, 3),
            aimsio_429=scale["full_delta"]["aimsio"]["by_status"].get("429", 0)
            + scale["incr_delta"]["aimsio"]["by_status"].get("429", 0),
            aimsio_requests=aimsio_requests,
            aimsio_phase_s=aimsio_phase,
            wip_report_s=scale["reports"]["wip"]["median_s"],
            aging_report_cold_s=scale["reports"]["aging"]["cold_s"],
            bound_by_api={v: b["bound_s"] for v, b in fb.items()},
            bound_with_sim_time_s=round(max(b["server_bound_s"] for b in fb.values()), 2),
            sim_overhead_ms_per_request={v: b["sim_overhead_ms"] for v, b in fb.items()},
            phase_by_api={v: h["phase_s"] for v, h in full["http"].items()},
            budget_used_by_api={v: round(utilization(full["http"], v)[0], 3) for v in full["http"]},
            underused_s_by_api={v: round(utilization(full["http"], v)[1], 1) for v in full["http"]},
            source_s={s: r["seconds"] for s, r in full["sources"].items()},
            incremental_source_s={s: r["seconds"] for s, r in incr["sources"].items()},
            models_s=full["models_s"],
            incremental_models_s=incr["models_s"],
            after_sources_s=full.get("after_sources_s"),
            rss_peak_mb_by_phase=full.get("rss_peak_mb_by_phase"),
            incremental_rss_peak_mb_by_phase=incr.get("rss_peak_mb_by_phase"),
            incremental_after_sources_s=incr.get("after_sources_s"),
            full_process_s=round(scale["full"].wall_s, 2),
            incremental_process_s=round(scale["incremental"].wall_s, 2),
            sync_cpu_s=round(scale["full"].cpu_s, 1),
            sim_cpu_s=round(scale["full"].sim_cpu_s, 1),
            machine_busy_cpu_s=round(scale["full"].machine_busy_s, 1),
            changed=scale["changed"],
            iinsight_requests_by_kind={
                run: {k: int(v["requests"]) for k, v in r.result["http"].get("iinsight", {}).get("kinds", {}).items()}
                for run, r in (("full", scale["full"]), ("incremental", scale["incremental"]))
            },
            incremental_billing_requests=billing_requests(scale),
        )
    if h2h:
        arwip_s = h2h["arwip"].result["sync_s"]
        fig.update(h2h_size=h2h["size"], h2h_arwip_s=round(arwip_s, 2))
        if h2h["baseline"] is not None:
            base = h2h["baseline"].result
            fig.update(
                h2h_baseline_s=round(base["seconds"], 2),
                h2h_baseline_page_size=base.get("aiwyn_page_size"),
                baseline_over_full=round(base["seconds"] / arwip_s, 2),
                h2h_baseline_source_s={s: r["seconds"] for s, r in base["sources"].items()},
                h2h_baseline_rows=base["rows_loaded"],
                h2h_baseline_rss_mb=round(h2h["baseline"].maxrss_mb, 1),
                h2h_baseline_429=h2h["baseline_delta"]["aimsio"]["by_status"].get("429", 0),
            )
    fig["destination"] = scale["destination"] if scale else "duckdb"
    if loads:
        fig["load_rows_per_s"] = {f: r["rows_per_s"] for f, r in loads.items()}
        fig["load_parquet_speedup"] = {f: r["parquet_speedup"] for f, r in loads.items() if "parquet_speedup" in r}
    targets = POSTGRES_TARGETS if fig["destination"] == "postgres" else TARGETS
    fig["targets_met"] = {
        k: (fig[k] <= limit if op == "<=" else fig[k] >= limit)
        for k, (op, limit) in targets.items()
        if fig.get(k) is not None
    }
    return fig


def print_tables(scale: dict[str, Any] | None, h2h: dict[str, Any] | None, fig: dict[str, Any]) -> None:
    """Human-readable tables (to stderr, so stdout ends with the JSON line alone)."""
    if scale:
        full, incr = scale["full"].result, scale["incremental"].result
        t = Table(title=f"Scale ({scale['size']} firm): per API, full sync")
        for col in (
            "API",
            "requests",
            "latency Σ s",
            "allowed",
            "bound s",
            "phase s",
            "phase/bound",
            "sim ms/req",
            "budget used",
            "<50% used s",
            "429",
            "incr. requests",
            "incr. bound s",
        ):
            t.add_column(col, justify="right" if col != "API" else "left")
        for v in VENDORS:
            b, ib, http = scale["full_bounds"][v], scale["incr_bounds"][v], full["http"].get(v, {})
            allowed = "10/s, 10" if v == "aimsio" else str(IN_FLIGHT[v])
            phase = http.get("phase_s", 0.0)
            used, under = utilization(full["http"], v)
            t.add_row(
                v,
                f"{b['requests']:,}",
                f"{b['latency_s']:.1f}",
                allowed,
                f"{b['bound_s']:.1f}",
                f"{phase:.1f}",
                f"{phase / b['bound_s']:.2f}" if b["bound_s"] else "-",
                f"{b['sim_overhead_ms']:.1f}",
                f"{used:.0%}",
                f"{under:.0f}",
                str(scale["full_delta"][v]["by_status"].get("429", 0)),
                f"{ib['requests']:,}",
                f"{ib['bound_s']:.1f}",
            )
        console.print(t)
        t = Table(title="Scale: per source (seconds)")
        for col in ("run", "source", "total", "extract", "normalize", "load", "rows", "requests"):
            t.add_column(col, justify="left" if col in ("run", "source") else "right")
        for label, run in (("full", full), ("incremental", incr)):
            for s, r in run["sources"].items():
                t.add_row(
                    label,
                    s,
                    f"{r['seconds']:.1f}",
                    f"{r.get('extract_s', 0):.1f}",
                    f"{r.get('normalize_s', 0):.1f}",
                    f"{r.get('load_s', 0):.1f}",
                    f"{r['rows']:,}",
                    f"{r['requests']:,}",
                )
            for step, seconds in (run.get("after_sources_s") or {"build_models": run["models_s"]}).items():
                t.add_row(label, step, f"{seconds:.1f}", "", "", "", "", "")
        console.print(t)
    targets = POSTGRES_TARGETS if fig["destination"] == "postgres" else TARGETS
    t = Table(title=f"Figures and targets ({fig['destination']})")
    t.add_column("figure")
    t.add_column("value", justify="right")
    t.add_column("target", justify="right")
    t.add_column("ok")
    for key in (
        "full_s",
        "bound_s",
        "full_over_bound",
        "incremental_s",
        "incremental_over_full",
        "aimsio_rps",
        "aimsio_429",
        "peak_rss_mb",
        "aging_report_s",
        "wip_report_s",
        "rows_loaded",
        "h2h_arwip_s",
        "h2h_baseline_s",
        "baseline_over_full",
    ):
        if fig.get(key) is None:
            continue
        op, limit = targets.get(key, ("", None))
        met = fig["targets_met"].get(key)
        value = fig[key]
        t.add_row(
            key,
            f"{value:,}" if isinstance(value, int) else f"{value:,.3f}".rstrip("0").rstrip("."),
            f"{op} {limit:g}" if limit is not None else "",
            "" if met is None else ("[green]yes[/]" if met else "[red]no[/]"),
        )
    console.print(t)
    if fig.get("load_rows_per_s"):
        t = Table(title="dlt's load rates into PostgreSQL (bench/pg_load.py)")
        for col in ("format", "rows/s", "Parquet/ADBC is"):
            t.add_column(col, justify="left" if col == "format" else "right")
        for file_format, rate in fig["load_rows_per_s"].items():
            speedup = fig["load_parquet_speedup"].get(file_format)
            t.add_row(file_format, f"{rate:,}", f"{speedup:g}× faster" if speedup else "")
        console.print(t)


def summarize_profile(path: Path, top: int = 12) -> None:
    """Print the hottest own and inclusive frames of a py-spy raw (collapsed) profile, idle waits excluded."""
    if not path.exists():
        return
    idle = ("select", "wait", "Condition.wait", "_wait_for_tstate_lock", "Queue.get", "sleep", "poll")
    own: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        frames = stack.split(";")
        if any(frames[-1].split(" (")[0].endswith(w) for w in idle):
            continue
        total += int(n)
        own[frames[-1]] += int(n)
        for f in set(frames):
            incl[f] += int(n)
    console.print(f"[bold]py-spy {path.name}[/]: {total} busy samples (idle waits excluded)")
    for title, counter in (("own", own), ("inclusive", incl)):
        for frame, n in counter.most_common(top):
            console.print(f"  {title:9s} {n / max(1, total):6.1%}  {frame[:150]}", highlight=False)
