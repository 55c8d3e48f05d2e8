"""The plan of a push: each input row checked and classified against the ledger (or the vendor), before anything
is sent.

A row is ``invalid`` (no key, a key seen on an earlier row, or the target's checks refused it), ``unchanged``
(its payload hash equals the one last applied, or the vendor shows the change already holds), a ``create`` (the
key is not live at the vendor as far as the ledger knows) or an ``update``. With ``--retry-failed`` only keys
whose newest entry is open (failed, invalid, interrupted, pending) are considered; the others are ``skipped``.
With ``--delete-missing``, keys live in the ledger that the input no longer has are deletes.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

from pipelines.push.ledger import IN_DOUBT, OPEN, KeyState
from sources._push import Invalid, Payload, Prepared

ACTIONS = ("create", "update", "delete", "unchanged", "invalid", "skipped")
SEND = ("create", "update")
_CANONICAL = msgspec.json.Encoder(decimal_format="number", order="sorted")


def payload_sha256(payload: Payload) -> str:
    """Hex sha256 of the payload's canonical JSON (keys sorted, decimals exact)."""
    return hashlib.sha256(_CANONICAL.encode(payload)).hexdigest()


@dataclass(frozen=True, slots=True)
class Planned:
    """One input row, classified: ``action`` (one of :data:`ACTIONS` but ``delete``), its ``payload`` and hash
    when valid, the ``attempt`` a send would be, and why it is invalid (``field``, ``message``)."""

    key: str
    action: str
    payload: Payload | None = None
    sha: str | None = None
    attempt: int = 0
    field: str | None = None
    message: str | None = None


@dataclass
class Plan:
    """What a push would do: ``counts`` per action, the first invalid rows (``key, field, message``), the
    target's ``notes`` and the keys to delete."""

    counts: Counter[str] = field(default_factory=Counter)
    invalid: list[tuple[str, str | None, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    deletes: list[str] = field(default_factory=list)

    def add(self, rows: Iterable[Planned], keep_invalid: int) -> None:
        for row in rows:
            self.counts[row.action] += 1
            if row.action == "invalid" and len(self.invalid) < keep_invalid:
                self.invalid.append((row.key, row.field, row.message or ""))

    @property
    def sends(self) -> int:
        """Rows (and deletes) the plan would send."""
        return self.counts["create"] + self.counts["update"] + len(self.deletes)


class Planner:
    """Classifies the rows of one push (see the module docstring). ``state``: the ledger's keys of the target
    and object (ignored when the destination is ``fresh``); ``key``: the key column; ``creates``: False when
    every row changes something that exists (all are updates)."""

    def __init__(self, state: Mapping[str, KeyState], prepared: Prepared, key: str, *, retry_failed: bool,
                 creates: bool = True, duplicates: Iterable[str] = ()) -> None:
        self.state = {} if prepared.fresh else state
        self.prepared, self.key, self.retry_failed = prepared, key, retry_failed
        self.creates = creates
        self.seen: dict[str, str] = {}
        """Key → the action of its first row."""
        self.duplicates = set(duplicates)
        """Keys on more than one row: every row of such a key is invalid (which one to send is unclear). A first
        pass finds them as it goes (:meth:`recount` corrects its plan); the second is given them."""

    def check(self, row: Mapping[str, Any], ask_vendor: bool = False) -> Planned:
        """Classify one row by the ledger; with ``ask_vendor`` the ledger never calls it unchanged: the vendor
        will say (see :meth:`held`)."""
        raw = row.get(self.key)
        key = "" if raw is None else str(raw).strip()
        before = self.state.get(key)
        if self.retry_failed and (before is None or before.status not in OPEN):
            self.seen.setdefault(key, "skipped")
            return Planned(key, "skipped")
        if not key:
            return Planned(key, "invalid", field=self.key, message=f"the key column {self.key} is empty")
        if key in self.seen or key in self.duplicates:
            self.duplicates.add(key)
            self.seen.setdefault(key, "invalid")
            return Planned(key, "invalid", field=self.key, message=f"key {key} is on more than one row")
        planned = self._check(key, row, before, ask_vendor)
        self.seen[key] = planned.action
        return planned

    def _check(self, key: str, row: Mapping[str, Any], before: KeyState | None, ask_vendor: bool) -> Planned:
        try:
            payload = self.prepared.payload(row)
        except Invalid as exc:
            return Planned(key, "invalid", field=exc.field, message=str(exc))
        sha = payload_sha256(payload)
        if (not ask_vendor and before is not None and before.live and before.applied_sha == sha
                and before.status not in IN_DOUBT):
            return Planned(key, "unchanged", payload, sha)
        attempt = before.attempt + 1 if before is not None and before.status in OPEN else 1
        update = not self.creates or (before is not None and before.live)
        return Planned(key, "update" if update else "create", payload, sha, attempt)

    def recount(self, plan: Plan) -> None:
        """Correct a first pass's ``plan`` for the duplicated keys found after their first row was counted."""
        for key in sorted(self.duplicates):
            first = self.seen[key]
            if first not in ("invalid", "skipped"):
                plan.counts[first] -= 1
                plan.counts["invalid"] += 1

    def held(self, row: Planned) -> Planned:
        """``row`` as ``unchanged``: the vendor shows its change already holds."""
        return Planned(row.key, "unchanged", row.payload, row.sha)

    def deletes(self) -> list[str]:
        """Keys live in the ledger that no input row had (with ``--retry-failed``, only open ones)."""
        return sorted(k for k, s in self.state.items() if s.live and k not in self.seen
                      and (not self.retry_failed or s.status in OPEN))
