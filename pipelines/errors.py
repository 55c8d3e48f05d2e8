"""Turn any failure of a command into one line for the user and an exit code.

dlt wraps what a source raised (``PipelineStepFailed`` → ``ResourceExtractionError`` → ours), so the
chain is walked to the first error that explains itself. Exit codes: 2 configuration, 1 other failure,
4 data tests failed, :data:`pipelines.warehouse.EXIT_LOCKED` when another sync holds the warehouse.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import NoReturn

import typer
from dlt.common.configuration.exceptions import ConfigFieldMissingException
from rich.console import Console

from pipelines.datatests import EXIT_DATA_TESTS, DataTestsFailed
from pipelines.publish import PublishError
from pipelines.warehouse import EXIT_LOCKED, SyncLocked
from sources._http import ConfigError, SourceError

EXIT_CONFIG = 2
EXIT_FAILED = 1


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop(0)
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo += [getattr(current, "exception", None), current.__cause__, current.__context__]


def _missing(exc: ConfigFieldMissingException) -> str:
    """Name each missing key as the environment variable a user sets (``SOURCES__AIWYN__JWT_API_KEY``)."""
    keys = []
    for field_name, traces in exc.traces.items():
        lookups = [str(getattr(t, "key", "")) for t in traces]
        plain = [k for k in lookups if k.startswith("SOURCES__") and k.count("__") == 2]
        keys.append(min(plain, key=len) if plain else field_name)
    return (
        f"missing configuration: {', '.join(keys)}; set it in the environment or in .dlt/config.toml / "
        ".dlt/secrets.toml (see README, Configuration)"
    )


def explain(exc: BaseException) -> tuple[str, int]:
    """``(one-line message, exit code)`` for ``exc``; never includes secret values."""
    for err in _chain(exc):
        if isinstance(err, SyncLocked):
            return str(err), EXIT_LOCKED
        if isinstance(err, DataTestsFailed):
            return str(err), EXIT_DATA_TESTS
        if isinstance(err, ConfigError):
            return str(err), EXIT_CONFIG
        if isinstance(err, ConfigFieldMissingException):
            return _missing(err), EXIT_CONFIG
    for err in _chain(exc):
        if isinstance(err, SourceError | FileNotFoundError | ValueError | PublishError):
            return str(err), EXIT_FAILED
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}", EXIT_FAILED


def fail(exc: BaseException, console: Console) -> NoReturn:
    """End a command on ``exc``: one ``error:`` line on ``console`` and its exit code (the traceback instead with
    ``ARWIP_DEBUG=1``)."""
    if os.environ.get("ARWIP_DEBUG"):
        raise exc
    message, code = explain(exc)
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)  # one line, for logs
    raise typer.Exit(code)
