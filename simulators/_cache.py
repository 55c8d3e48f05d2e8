"""Detail documents rendered in bulk and served from memory, kept current across writes.

A point lookup in DuckDB scans the table (no index) and plans a large JSON expression every time,
so a detail request cost ~5-10 ms of CPU. `DocCache` renders the documents of a whole key range in
one query instead, keeps them as bytes in a dict, and answers from memory (microseconds).

Keeping it current: every change goes through `Firm.write`, which stamps every row it touches with
its `t` (> every earlier timestamp), sets `Firm.stamp = t` and moves `Firm.version` on. When a
request finds the version moved, the cache asks `changed` for the keys of rows stamped after the
stamp it last saw and re-renders those (if their range is loaded) in one query; keys that render no
row any more (deleted) are dropped. Loads and refreshes run under `Firm.hold()` (no write meanwhile),
so the cache always holds exactly one version of the data.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from enum import Enum
from typing import Any, Final

from simulators.data import Firm

Finish = Callable[[tuple[Any, ...]], Any]
"""A rendered row `(key, json text, *extras)` → the stored value."""
Serve = Callable[[Any, Firm], bytes]
"""A stored value → the response body (may depend on the firm's clock)."""

class Miss(Enum):
    """`DocCache.peek` answer `MISS`: the cache must load or refresh first (`DocCache.load`, blocking)."""

    MISS = "miss"


MISS: Final = Miss.MISS
_INT64 = 2**63


def json_bytes(row: tuple[Any, ...]) -> bytes:
    """Default `Finish`: the JSON text as UTF-8 bytes."""
    return str(row[1]).encode()


def as_is(value: Any, firm: Firm) -> bytes:
    """Default `Serve`: the stored bytes."""
    return value  # type: ignore[no-any-return]


class DocCache:
    """Rendered documents of one entity by key.

    - `render`: SQL with a `{where}` slot (a condition on `key`; filled by plain replacement, so the
      SQL may hold other braces), yielding `(key, json, *extras)`;
    - `key`: the key expression the condition is written on (e.g. `i.id`);
    - `changed`: SQL of the keys whose document may differ for rows stamped after `?` (every `?` is
      bound to the stamp);
    - `chunk`: integer keys are loaded `chunk` consecutive keys at a time on first use (None: the
      whole table at once, any key type).
    """

    def __init__(self, firm: Firm, render: str, key: str, changed: str, *, chunk: int | None = None,
                 finish: Finish = json_bytes, serve: Serve = as_is) -> None:
        self._firm = firm
        self._render, self._key, self._changed = render, key, changed
        self._chunk_size = chunk
        self._finish, self._serve = finish, serve
        self._docs: dict[Hashable, Any] = {}
        self._loaded: set[int] = set()
        self._version = -1
        self._stamp = firm.stamp

    def _chunk(self, key: Hashable) -> int:
        return key // self._chunk_size if self._chunk_size else 0  # type: ignore[operator]

    def _valid(self, key: Hashable) -> bool:
        return not isinstance(key, int) or -_INT64 <= key < _INT64

    def peek(self, key: Hashable) -> bytes | Miss | None:
        """The document from memory (None: no such key), or `MISS` when `load` must run first."""
        if self._version != self._firm.version:
            return MISS
        if not self._valid(key):
            return None
        if self._chunk(key) not in self._loaded:
            return MISS
        value = self._docs.get(key)
        return None if value is None else self._serve(value, self._firm)

    def load(self, key: Hashable) -> bytes | None:
        """Refresh and load as needed (blocking: run it in the thread pool), then the document."""
        return self.load_many([key])[0]

    def load_many(self, keys: Sequence[Hashable]) -> list[bytes | None]:
        """`load` of every key (None: no such key), under one hold of the write lock: one version throughout."""
        valid = [key if self._valid(key) else None for key in keys]
        with self._firm.hold():
            self._refresh()
            for chunk in sorted({self._chunk(k) for k in valid if k is not None} - self._loaded):
                if self._chunk_size:
                    lo = chunk * self._chunk_size
                    self._fill(f"{self._key} BETWEEN ? AND ?", [lo, min(lo + self._chunk_size, _INT64) - 1])
                else:
                    self._fill("TRUE", [])
                self._loaded.add(chunk)
            values = [None if key is None else self._docs.get(key) for key in valid]
        return [None if value is None else self._serve(value, self._firm) for value in values]

    def _fill(self, where: str, params: list[Any]) -> dict[Hashable, Any]:
        rows = {row[0]: self._finish(row) for row in self._firm.query(self._render.replace("{where}", where), params)}
        self._docs.update(rows)
        return rows

    def _refresh(self) -> None:
        """Bring the loaded documents to the firm's current version (caller holds the write lock)."""
        firm = self._firm
        if self._version == firm.version:
            return
        if self._loaded:
            changed = firm.query(self._changed, [self._stamp] * self._changed.count("?"))
            keys = list({row[0] for row in changed if row[0] is not None and self._chunk(row[0]) in self._loaded})
            if keys:
                fresh = self._fill(f"{self._key} IN (SELECT unnest(?))", [keys])
                for gone in set(keys) - set(fresh):
                    self._docs.pop(gone, None)
        self._version, self._stamp = firm.version, firm.stamp
