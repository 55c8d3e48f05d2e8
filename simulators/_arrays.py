"""Small vectorised helpers shared by the generators: exact money arrays, timestamps, dates, picks.

Money is carried as int64 cents (or mils for Aimsio's three-decimal numbers) in numpy and becomes an
exact `decimal128(18, 2)` (or `(18, 3)`) Arrow array without any float step.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

DAY = 86_400
"""Seconds per day."""
HORIZON_DAYS = 450
"""How far back (about 15 months) generated business dates reach."""
BUCKETS = ((-30, 0), (1, 30), (31, 60), (61, 90), (91, 380))
"""Days-past-due ranges of the AR aging buckets: current (≤0), 1-30, 31-60, 61-90, 91+."""


def dec(units: np.ndarray, scale: int = 2) -> pa.Array:
    """Exact `decimal128(18, scale)` array from int64 unscaled units (cents when scale=2)."""
    units = np.ascontiguousarray(units, dtype=np.int64)
    words = np.empty((len(units), 2), dtype=np.int64)
    words[:, 0] = units
    words[:, 1] = units >> 63  # sign extension into the high 64 bits
    return pa.Array.from_buffers(pa.decimal128(18, scale), len(units), [None, pa.py_buffer(words)])


def ts(seconds: np.ndarray) -> pa.Array:
    """UTC `timestamp[us]` array from int64 epoch seconds."""
    return pa.array(np.asarray(seconds, dtype=np.int64) * 1_000_000, pa.timestamp("us", tz="UTC"))


def dates(days: np.ndarray) -> pa.Array:
    """`date32` array from int days since 1970-01-01."""
    return pa.array(np.asarray(days, dtype=np.int32), pa.date32())


def take(values: Sequence[str | None] | pa.Array, idx: np.ndarray) -> pa.Array:
    """Gather strings by index (C++ `take`, no per-row Python)."""
    arr = values if isinstance(values, pa.Array) else pa.array(list(values), pa.string())
    return pc.take(arr, pa.array(np.asarray(idx, dtype=np.int64)))


def fmt(template: str, *columns: np.ndarray) -> pa.Array:
    """Format one string per row (`template % row`); used for ids-like strings on ≤ 100k rows."""
    return pa.array([template % row for row in zip(*(c.tolist() for c in columns), strict=True)], pa.string())


def exact_counts(n: int, shares: Sequence[float]) -> list[int]:
    """Split `n` into exact counts by `shares` (rounded); the last class takes the remainder."""
    counts = [round(n * s) for s in shares]
    while sum(counts) > n:
        counts[counts.index(max(counts))] -= 1
    return [*counts, n - sum(counts)]


def shuffled_classes(rng: np.random.Generator, n: int, shares: Sequence[float]) -> np.ndarray:
    """Class codes 0..len(shares) with exact counts per class, in random order."""
    counts = exact_counts(n, shares)
    return rng.permutation(np.repeat(np.arange(len(counts)), counts))


def cyclic_buckets(mask: np.ndarray) -> np.ndarray:
    """Aging bucket 0..4 assigned round-robin over the rows where `mask` is true (so all five fill)."""
    out = np.zeros(len(mask), dtype=np.int64)
    where = np.flatnonzero(mask)
    out[where] = np.arange(len(where)) % len(BUCKETS)
    return out


def days_past_due(rng: np.random.Generator, bucket: np.ndarray) -> np.ndarray:
    """Random days past due inside each row's aging bucket."""
    lo = np.array([b[0] for b in BUCKETS])[bucket]
    hi = np.array([b[1] for b in BUCKETS])[bucket]
    return rng.integers(lo, hi + 1)


def group_sum(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Exact int64 sums of consecutive groups of sizes `counts` (groups may be empty)."""
    out = np.zeros(len(counts), dtype=np.int64)
    nz = counts > 0
    if nz.any():
        starts = (np.cumsum(counts) - counts)[nz]
        out[nz] = np.add.reduceat(np.asarray(values, dtype=np.int64), starts)
    return out


def split_amounts(rng: np.random.Generator, targets: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Split each target (cents) into `counts` positive-ish parts that sum exactly to it."""
    owner = np.repeat(np.arange(len(targets)), counts)
    weights = rng.random(len(owner)) + 0.25
    wsum = np.zeros(len(targets))
    np.add.at(wsum, owner, weights)
    parts = np.floor(targets[owner] * weights / np.maximum(wsum[owner], 1e-9)).astype(np.int64)
    last = np.cumsum(counts)[counts > 0] - 1
    parts[last] += (targets - group_sum(parts, counts))[counts > 0]
    return parts


def spread_updates(
    rng: np.random.Generator, created: np.ndarray, now_s: int, edited: np.ndarray, tie_at: int
) -> np.ndarray:
    """Update instants (epoch s) ≥ created and ≤ now, with deliberate ties.

    Edited rows get a later instant; 30% are floored to the minute (rows share seconds) and ~8% of
    rows created before `tie_at` were touched by one bulk job at exactly `tie_at`.
    """
    n = len(created)
    later = created + (rng.random(n) * (now_s - created)).astype(np.int64)
    updated = np.where(edited, later, created)
    floored = np.maximum(created, updated - updated % 60)
    updated = np.where(rng.random(n) < 0.3, floored, updated)
    bulk = (created <= tie_at) & (updated < tie_at) & (rng.random(n) < 0.08)
    return np.minimum(np.where(bulk, tie_at, updated), now_s)


def uuids(rng: np.random.Generator, n: int) -> list[str]:
    """Deterministic version-4 UUID strings."""
    return [str(uuid.UUID(bytes=rng.bytes(16), version=4)) for _ in range(n)]


def cents(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """int64 unscaled units of a `decimal128` array whose values fit in 64 bits (the inverse of `dec`)."""
    arr = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    words = np.frombuffer(arr.buffers()[1], dtype=np.int64).reshape(-1, 2)
    return words[arr.offset:arr.offset + len(arr), 0].copy()


def days(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """int64 days since 1970-01-01 of a `date32` array (the inverse of `dates`)."""
    return np.asarray(pc.cast(values, pa.int32()).to_numpy(zero_copy_only=False), dtype=np.int64)


def seconds(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """int64 epoch seconds of a UTC `timestamp[us]` array (the inverse of `ts`)."""
    return np.asarray(pc.cast(values, pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64) // 1_000_000
