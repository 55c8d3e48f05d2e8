"""Where ``arwip report`` and ``arwip verify`` read: the warehouse, or its BI snapshot while a writer holds it.

DuckDB allows one writing process or many readers. While ``arwip serve`` (or a running ``arwip sync``) holds
the warehouse, a reader opening it would fail, or make the writer's next load fail; the BI snapshot
(:mod:`pipelines.publish`) is a complete copy as of the last published sync, so readers use it then.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from pipelines.publish import INFO_TABLE
from pipelines.sync import bi_settings
from pipelines.warehouse import lock_holder


@dataclass(frozen=True)
class ReadFrom:
    """The file to read (``path``) and, when it is the BI snapshot, ``note``: one line saying why and as of
    when (for stderr); ``note`` is None when ``path`` is the warehouse itself."""

    path: Path
    note: str | None = None


def read_from(db_path: Path) -> ReadFrom:
    """The warehouse ``db_path`` when nobody writes it, else its BI snapshot (``[bi] snapshot_path``).

    Raises:
        FileNotFoundError: a writer holds the warehouse and no snapshot was published yet.
    """
    holder = lock_holder(db_path)
    if holder is None:
        return ReadFrom(db_path)
    snapshot, _ = bi_settings(db_path)
    if not snapshot.is_file():
        raise FileNotFoundError(
            f"arwip {holder} holds {db_path} and has not published a BI snapshot ({snapshot}) yet: try again "
            "after its first sync"
        )
    with duckdb.connect(str(snapshot), read_only=True) as con:
        try:
            published = con.execute(f"select published_at from main.{INFO_TABLE}").fetchone()
        except duckdb.CatalogException:
            published = None
    when = f"published {published[0]:%Y-%m-%d %H:%M:%S} UTC" if published else "publish time unknown"
    return ReadFrom(snapshot, f"arwip {holder} holds {db_path}: reading the BI snapshot {snapshot} ({when})")
