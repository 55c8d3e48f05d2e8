"""The commands of the live service: ``arwip serve`` and ``arwip subscriptions list | create | delete | rotate``
(registered in :mod:`pipelines.cli`). Thin: they parse options and call :mod:`pipelines.serve.service` and
:mod:`pipelines.subscriptions`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from pipelines.errors import fail
from pipelines.options import DbOption, DestinationOption, warehouse_of
from pipelines.warehouse import DEFAULT_DB

if TYPE_CHECKING:
    from pipelines.subscriptions import Secrets

console = Console(stderr=True, width=None if sys.stderr.isatty() else 120)
out = Console(width=None if sys.stdout.isatty() else 160)

SourceOption = Annotated[
    str | None, typer.Option("--source", "-s", help="The source (default: the one with webhooks).")
]
PrintEnv = Annotated[bool, typer.Option(
    "--print-env", help="Print the SOURCES__<SOURCE>__WEBHOOK_SECRET=... line to set instead of writing "
    ".dlt/secrets.toml (this prints the secret).")]


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on (put a TLS reverse proxy in front).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0: any free port, logged).")] = 8787,
    db: DbOption = DEFAULT_DB,
    destination: DestinationOption = None,
    source: Annotated[list[str] | None, typer.Option(
        "--source", "-s", help="Source to keep in sync (repeatable); default all.")] = None,
    stop_timeout: Annotated[float, typer.Option(
        help="Seconds a running sync gets to finish after SIGTERM before it is abandoned (resumed next start).")
    ] = 20.0,
) -> None:
    """Run the service in the foreground: receive webhooks (POST /webhooks/<source>), sync what they name within
    seconds, poll every source every poll_interval, reconcile every reconcile_every; GET /healthz, GET /metrics.
    Logs on stdout; SIGTERM stops it."""
    from pipelines.serve.service import serve as run_service

    try:
        run_service(warehouse_of(destination, db, console), host, port, source or None, stop_timeout)
    except Exception as exc:
        fail(exc, console)


subscriptions = typer.Typer(
    help="Manage the webhook subscriptions of a source (Aiwyn) through its API; the signing secrets go to "
    ".dlt/secrets.toml (never printed unless --print-env).",
    no_args_is_help=True,
)


def _secrets_note(kept: Secrets) -> None:
    if kept.env_line is not None:
        sys.stdout.write(kept.env_line + "\n")
        console.print(f"set the line above in arwip serve's environment ({kept.count} secret(s)), then restart it")
    else:
        console.print(f"signing secret(s) stored in {kept.path} ({kept.count}); restart arwip serve to use them")


@subscriptions.command("list")
def list_command(source: SourceOption = None) -> None:
    """List the subscriptions (active or not): id, name, URL, entity types, operations, created."""
    from rich.table import Table

    from pipelines.subscriptions import list_subscriptions

    try:
        found = list_subscriptions(source)
    except Exception as exc:
        fail(exc, console)
    view = Table("id", "name", "url", "entities", "operations", "active", "created", title="subscriptions",
                 title_justify="left")
    for s in found:
        view.add_row(s.id, s.name, s.url, ", ".join(s.entity_types), ", ".join(s.operations),
                     "yes" if s.active else "no", s.created_at or "")
    out.print(view)


@subscriptions.command("create")
def create_command(
    url: Annotated[str, typer.Option(help="Public HTTPS URL of arwip serve's /webhooks/<source>.")],
    entity: Annotated[list[str] | None, typer.Option(
        "--entity", help="Entity type to receive (repeatable; Aiwyn: wip, invoice, payment); default all.")] = None,
    source: SourceOption = None,
    print_env: PrintEnv = False,
) -> None:
    """Subscribe URL to every change (CREATE, UPDATE, DELETE) of the entity types; keep its signing secret."""
    from pipelines.subscriptions import create

    try:
        created, kept = create(url, entity or None, source, print_env)
    except Exception as exc:
        fail(exc, console)
    console.print(f"[green]created[/] subscription {created.id}: {', '.join(created.entity_types)} -> {created.url}",
                  highlight=False)
    _secrets_note(kept)


IdArgument = Annotated[str, typer.Argument(metavar="ID", help="The subscription's id (see list).")]


def _changed(change: Callable[[], Secrets], done: str) -> None:
    """Run a change of subscriptions, then say ``done`` and where the secrets went (one ``error:`` line on failure)."""
    try:
        kept = change()
    except Exception as exc:
        fail(exc, console)
    console.print(done, highlight=False)
    _secrets_note(kept)


@subscriptions.command("delete")
def delete_command(subscription_id: IdArgument, source: SourceOption = None, print_env: PrintEnv = False) -> None:
    """Deactivate a subscription (no more deliveries); keep the secrets of those still active."""
    from pipelines.subscriptions import delete

    _changed(lambda: delete(subscription_id, source, print_env),
             f"[green]deactivated[/] subscription {subscription_id}")


@subscriptions.command("rotate")
def rotate_command(subscription_id: IdArgument, source: SourceOption = None, print_env: PrintEnv = False) -> None:
    """Give a subscription a new signing secret; keep it and, while the vendor still signs with it, the old one."""
    from pipelines.subscriptions import rotate

    _changed(lambda: rotate(subscription_id, source, print_env),
             f"[green]rotated[/] the signing secret of subscription {subscription_id}")
