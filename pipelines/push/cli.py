"""``arwip push TARGET`` (one command per push target of the vendor registry) and ``arwip push status``.

Each target command has the target's own options plus ``--db``, ``--destination``, ``--apply``,
``--retry-failed`` and ``--show``;
it prints the plan on stdout, progress on stderr, and exits 0 when every row was valid and applied (or would be,
in a dry run), 3 when some row was invalid or failed (partial failures are normal: the rest stays applied),
2 for a configuration error, 75 when another sync or push holds the warehouse, 1 for any other failure.
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn, get_args

import typer
from rich.console import Console
from rich.table import Table

from pipelines import errors
from pipelines.options import DbOption, DestinationOption, warehouse_of
from pipelines.push import ledger as ledgers
from pipelines.push.engine import PushResult, push
from pipelines.push.sender import Sent
from pipelines.warehouse import DEFAULT_DB, Warehouse
from sources import registry
from sources._push import PushOption, PushTarget

EXIT_ROWS_FAILED = 3
console = Console(stderr=True, width=None if sys.stderr.isatty() else 120)
out = Console(width=None if sys.stdout.isatty() else 160)
push_app = typer.Typer(
    help="Write back to the vendors (reverse ETL): print the plan, send only with --apply; every row is recorded "
    "in the warehouse's push.ledger.",
    no_args_is_help=True,
)

_COMMON: dict[str, tuple[Any, Any]] = {
    "db": get_args(DbOption),  # the options every warehouse command shares (pipelines.options)
    "destination": get_args(DestinationOption),
    "apply": (bool, typer.Option("--apply", help="Send. Without it, a dry run: print the plan, send nothing.")),
    "retry_failed": (bool, typer.Option("--retry-failed", help="Only the rows whose last push failed, was invalid "
                                        "or was interrupted.")),
    "show": (int, typer.Option("--show", help="How many invalid and failed rows to print.")),
}
_DEFAULTS = {"db": DEFAULT_DB, "destination": None, "apply": False, "retry_failed": False, "show": 10}


def fail(exc: BaseException) -> NoReturn:
    """End the command on ``exc`` (:func:`pipelines.errors.fail` on stderr)."""
    errors.fail(exc, console)


def _option(option: PushOption) -> tuple[Any, Any, Any]:
    """(type, typer option, default) of a target's option."""
    if option.kind == "flag":
        return bool, typer.Option(option.flag, help=option.help), False
    if option.kind == "file":
        return Path | None, typer.Option(option.flag, help=option.help, exists=True, dir_okay=False), None
    return str | None, typer.Option(option.flag, help=option.help), None


def _command(target: PushTarget) -> Any:
    """A typer command for ``target``: its options, then the common ones."""
    params, annotations = [], {}
    specs = [(o.dest, *_option(o)) for o in target.options]
    specs += [(name, kind, info, _DEFAULTS[name]) for name, (kind, info) in _COMMON.items()]
    for name, kind, info, default in specs:
        annotations[name] = Annotated[kind, info]
        params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                                        annotation=annotations[name]))

    def command(**values: Any) -> None:
        args = {o.dest: values[o.dest] for o in target.options}
        warehouse = warehouse_of(values["destination"], values["db"], console)
        run_push(target, args, warehouse, values["apply"], values["retry_failed"], values["show"])

    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__annotations__ = annotations
    command.__doc__ = target.help
    command.__name__ = target.name.replace("-", "_")
    return command


def run_push(target: PushTarget, args: dict[str, Any], warehouse: Warehouse, apply: bool, retry_failed: bool,
             show: int) -> None:
    """Run one push with output (see the module docstring for the exit codes)."""
    try:
        result = push(target.name, args, warehouse, apply=apply, retry_failed=retry_failed,
                      delete_missing=bool(args.get("delete_missing")), keep=show, on_plan=print_plan,
                      on_progress=_progress)
    except Exception as exc:
        fail(exc)
    if apply:
        print_outcome(result)
    if not result.clean:
        raise typer.Exit(EXIT_ROWS_FAILED)


def print_plan(result: PushResult) -> None:
    """The plan: notes, counts, the first invalid rows; in-doubt rows settled or waiting."""
    plan, mode = result.plan, "applying" if result.applied else "dry run"
    where = f" → {result.object}" if result.object else ""
    out.print(f"[bold]arwip push {result.target}[/]{where} ({mode})", highlight=False)
    if result.settled:
        out.print(f"  settled {sum(result.settled.values())} in-doubt row(s) of an interrupted push: "
                  f"{result.settled['applied']} hold at the vendor, {result.settled['interrupted']} to send again",
                  highlight=False)
    if result.in_doubt:
        out.print(f"  {result.in_doubt} row(s) in doubt after an interrupted push: --apply settles them first",
                  highlight=False)
    for note in plan.notes:
        out.print(f"  {note}", highlight=False)
    c = plan.counts
    counts = (f"  plan: {c['create']:,} create(s), {c['update']:,} update(s), {len(plan.deletes):,} delete(s), "
              f"{c['unchanged']:,} unchanged, {c['invalid']:,} invalid")
    out.print(counts + (f", {c['skipped']:,} skipped (not failed before)" if c["skipped"] else ""), highlight=False)
    if plan.invalid:
        out.print(f"  invalid rows (first {len(plan.invalid)} of {c['invalid']:,}):", highlight=False)
        for key, field, message in plan.invalid:
            out.print(f"    {key or '(no key)'}  {field or ''}: {message}", highlight=False, soft_wrap=True)
    if not result.applied:
        out.print("  dry run: nothing sent; add --apply to send", highlight=False)


def _progress(sent: Sent) -> None:
    if sent.batches % 10 == 0:
        console.print(f"  sent {sent.batches:,} batch(es): {sent.counts['applied']:,} applied, "
                      f"{sent.counts['failed']:,} failed", highlight=False)


def print_outcome(result: PushResult) -> None:
    """What was sent: applied and failed rows, the first failures with the vendor's reasons."""
    sent = result.sent
    out.print(f"  push {result.push_id}: {sent.counts['applied']:,} applied, {sent.counts['failed']:,} failed "
              f"({sent.batches:,} batch(es), {result.requests:,} request(s), {result.seconds:.1f} s)",
              highlight=False)
    if sent.failures:
        out.print(f"  failed rows (first {len(sent.failures)}):", highlight=False)
        for key, code, field, message in sent.failures:
            out.print(f"    {key}  {code or ''} {field or ''}: {message or ''}", highlight=False, soft_wrap=True)
    if not result.clean:
        out.print("  `arwip push status --failed` lists the rows that failed; --retry-failed sends only those",
                  highlight=False)


def register_targets() -> None:
    """One ``arwip push <target>`` command per push target of the registry."""
    for name, (_, target) in registry.push_targets().items():
        push_app.command(name=name, help=target.help)(_command(target))


@push_app.command("status")
def status(
    failed: Annotated[bool, typer.Option("--failed", help="List the rows that failed (or were invalid, "
                                         "interrupted or are still in doubt) instead of the pushes.")] = False,
    target: Annotated[str | None, typer.Option("--target", help="Only this push target.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="How many pushes or rows to show.")] = 20,
    db: DbOption = DEFAULT_DB,
    destination: DestinationOption = None,
) -> None:
    """Show the last pushes (outcome and rows per status), or with --failed the rows whose last push failed."""
    warehouse = warehouse_of(destination, db, console)
    try:
        warehouse.require()
    except FileNotFoundError:
        fail(FileNotFoundError(f"no warehouse at {warehouse.location}: nothing was pushed"))
    except Exception as exc:
        fail(exc)
    try:
        with warehouse.connect() as con:
            rows = ledgers.open_rows(con, limit, target) if failed else ledgers.recent_runs(con, limit, target)
    except Exception as exc:
        fail(exc)
    if failed:
        view = Table("target", "object", "key", "status", "operation", "code", "field", "message", "attempt", "push",
                     title="rows that did not reach the vendor", title_justify="left")
        for r in rows:
            view.add_row(r["target"], r["object"], r["key"], r["status"], r["operation"], r["error_code"] or "",
                         r["error_field"] or "", r["message"] or "", str(r["attempt"]), r["push_id"])
    else:
        view = Table("push", "target", "object", "started (UTC)", "outcome", *ledgers.STATUSES, title="last pushes",
                     title_justify="left")
        for r in rows:
            view.add_row(r["push_id"], r["target"], r["object"], f"{r['started_at']:%Y-%m-%d %H:%M:%S}",
                         r["outcome"], *(f"{r[s] or 0:,}" for s in ledgers.STATUSES))
    out.print(view)
    if not rows:
        console.print("nothing to show")


register_targets()
