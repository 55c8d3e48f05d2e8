"""What a push target is to arwip: the vendor side of reverse ETL (``arwip push TARGET``).

A vendor lists its targets (:attr:`sources._vendor.Vendor.push_targets`); the generic engine
(:mod:`pipelines.push`) plans, keeps the ledger, sends, retries and settles through this interface and never
names a vendor. A :class:`PushTarget` says:

- its name (``aiwyn-records``), help and command-line options (:class:`PushOption`, parsed into ``args``:
  ``{dest: value}``), and which rows it pushes (:meth:`~PushTarget.input`: a SQL file, a CSV file, an arwip report
  or literal rows, and the key column);
- the ledger's ``object`` of a push (a record type, an employer): the scope in which keys are diffed;
- how the rows are checked and turned into payloads (:meth:`~PushTarget.prepare` reads what it needs from the
  vendor, e.g. a schema, and returns a :class:`Prepared`), how a batch is sent (:meth:`~PushTarget.send`, one
  :class:`Outcome` per row, partial failures normal) and, for a target that deletes, how (:meth:`~PushTarget.delete`);
- whether a resend is harmless (``idempotent``: the vendor matches the key, e.g. an upsert by external id); a
  target whose resend is not (a transfer) answers :meth:`~PushTarget.in_effect`, so the engine asks the vendor
  which keys already hold instead of sending them again.

Payloads are JSON values (``str``, ``int``, ``bool``, ``None``, ``Decimal`` for money and quantities, lists and
dicts), the same for the same row every time: the engine hashes them (sha256 of the canonical JSON) to skip rows
that did not change since they were last applied.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import pyarrow as pa

from sources._http import ApiClient

Args = Mapping[str, Any]
"""A push's options: ``{PushOption.dest: value}`` (None when not given; False for an absent flag)."""
Payload = dict[str, Any]


class PushUsageError(ValueError):
    """The options or the input do not fit the target (a missing option, a column the vendor does not know):
    nothing was planned or sent. The message names what to change."""


class Invalid(ValueError):
    """A row that cannot be pushed: ``field`` names the column at fault (None: the whole row). Recorded in the
    ledger as ``invalid`` and never sent."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class PushOption:
    """One command-line option of a target: ``--flag`` with its help; ``kind`` ``text`` (a string), ``file`` (a
    path that must exist) or ``flag`` (a boolean switch). ``dest`` is its key in ``args``."""

    flag: str
    help: str
    kind: Literal["text", "file", "flag"] = "text"

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")


@dataclass(frozen=True)
class PushInput:
    """Where a push's rows come from, and which column is their key: exactly one of ``sql`` (a file holding one
    query over the warehouse), ``csv`` (a file with a header line; every value read as text), ``report`` (an arwip
    report by name, as of today, e.g. ``client_summary``) or ``rows`` (literal rows)."""

    key: str
    sql: Path | None = None
    csv: Path | None = None
    report: str | None = None
    rows: tuple[Mapping[str, Any], ...] | None = None


@dataclass
class Prepared:
    """What a target found at the vendor before planning.

    ``payload(row)``: the row (column → value) as the payload to send; raises :class:`Invalid`. ``notes``: lines
    for the plan (``record type x would be created``). ``setup``: changes the push needs before any row is sent
    (create a record type, add fields), run only with ``--apply``. ``fresh``: the destination is new (created by
    ``setup``), so nothing the ledger says was applied there still holds.
    """

    payload: Callable[[Mapping[str, Any]], Payload]
    notes: list[str] = field(default_factory=list)
    setup: Callable[[ApiClient], Awaitable[None]] | None = None
    fresh: bool = False


@dataclass(frozen=True)
class Outcome:
    """What the vendor did with one row: ``ok``, the ``operation`` it reports (``create``, ``update``,
    ``delete``; None when it does not say), else its ``code``, the ``field`` at fault and its ``message``."""

    key: str
    ok: bool
    operation: str | None = None
    code: str | None = None
    field: str | None = None
    message: str | None = None


Row = tuple[str, Payload]
"""A row to send: (key, payload)."""


class PushTarget(ABC):
    """One write destination of a vendor (see the module docstring). Subclasses set the class attributes and
    implement :meth:`input`, :meth:`object`, :meth:`prepare` and :meth:`send`."""

    name: ClassVar[str]
    """The command: ``arwip push <name>``."""
    vendor: ClassVar[str]
    """The vendor whose client sends (its configuration keys apply)."""
    help: ClassVar[str]
    options: ClassVar[tuple[PushOption, ...]] = ()
    batch_size: ClassVar[int] = 100
    """Rows per request (the API's limit)."""
    idempotent: ClassVar[bool] = True
    """Sending a row again changes nothing more (the vendor matches its key): in-doubt rows are simply resent."""
    creates: ClassVar[bool] = True
    """A row may create something at the vendor; False: every row changes what exists (an ``update``)."""
    deletes: ClassVar[bool] = False
    """It can delete what arwip pushed before and the input no longer has (``--delete-missing``)."""

    @abstractmethod
    def input(self, args: Args) -> PushInput:
        """The rows to push. Raises :class:`PushUsageError` for options that do not fit together."""

    @abstractmethod
    def object(self, args: Args) -> str:
        """What the pushed keys belong to (a record type, an employer id; ``""`` for one flat namespace)."""

    @abstractmethod
    async def prepare(self, client: ApiClient, args: Args, schema: pa.Schema) -> Prepared:
        """Read what checking the rows needs (a schema) for the input's columns ``schema``; sends nothing.
        Raises :class:`PushUsageError` when the columns do not fit the destination."""

    @abstractmethod
    async def send(self, client: ApiClient, args: Args, rows: Sequence[Row]) -> list[Outcome]:
        """Send up to :attr:`batch_size` rows; one outcome per row, in order. A refused row is an outcome, not an
        exception; a refused request raises the client's :class:`~sources._http.SourceError`."""

    async def delete(self, client: ApiClient, args: Args, keys: Sequence[str]) -> list[Outcome]:
        """Delete (or inactivate) up to :attr:`batch_size` keys arwip pushed before; one outcome per key."""
        raise NotImplementedError(f"{self.name} does not delete")

    async def in_effect(self, client: ApiClient, args: Args, keys: Sequence[str]) -> set[str] | None:
        """The ``keys`` whose change already holds at the vendor (asked, not remembered), or None when the target
        cannot tell (then the ledger decides). A target that is not :attr:`idempotent` must answer."""
        return None
