"""The run ids at given places of a sorted order, without sorting every run.

A page deep inside a store of millions of runs needs the runs at places ``offset .. offset + size`` of the
order (known keys first, the key, then the run id). Sorting the matches, or even a top-k of them, holds
millions of (key, run id) pairs; here the order is narrowed instead, one dimension at a time, by counting:
runs are split into buckets that follow the order (key known or not; ranges of a numeric or time key; the
character after the common prefix of a text key or of the run id), the bucket counts say which bucket holds the places
asked for, and only that bucket is looked into further. Once a part of the order has at most ``LIMIT``
runs, or the places lie within ``LIMIT`` of one of its ends, it is sorted directly. Every pass is a streaming
scan that keeps only bucket counts, so memory does not grow with the store.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import polars as pl

ENGINE = "streaming"
LIMIT = 100_000  # runs of a part sorted at once
BUCKETS = 1024  # ranges a numeric key is split into per pass
MAX_DEPTH = 64  # passes down one path of buckets before a part is sorted whatever its size


@dataclass(frozen=True)
class Order:
    """The total order of the ranked frame: ``flag`` (0 known key, 1 unknown: always last), ``key`` in
    ``descending`` order, then ``run_id`` ascending (sorting by run id, the key is the run id itself);
    ``directions(reverse=True)`` walks it from the other end."""
    flag: str
    key: str
    descending: bool

    def columns(self) -> list[str]:
        return list(dict.fromkeys([self.flag, self.key, "run_id"]))

    def directions(self, reverse: bool = False) -> list[bool]:
        down = [False, self.descending] + ([False] if self.key != "run_id" else [])
        return [not d for d in down] if reverse else down

    def run_id_descending(self) -> bool:
        return self.descending if self.key == "run_id" else False


def ids_at(ranked: pl.LazyFrame, order: Order, offset: int, size: int, count: int) -> list[str]:
    """Run ids at places ``offset .. offset + size`` (0-based) of ``ranked`` (``count`` rows, columns of
    ``order``) in ``order``."""
    schema = ranked.collect_schema()
    dims = [("flag", None)]
    if order.key != "run_id":
        dims.append(("key", schema[order.key]))
    dims.append(("run_id", pl.String))
    return _select(ranked, order, pl.lit(True), count, offset, size, dims, state=None)


def _select(ranked, order: Order, where: pl.Expr, count: int, j: int, n: int, dims: list, state,
            depth: int = 0) -> list[str]:
    """The ids at places ``j .. j + n`` of the part of the order that ``where`` selects (``count`` runs, ordered
    by ``dims`` from here on; ``state``: how far the first of them is narrowed already)."""
    n = min(n, count - j)
    if n <= 0:
        return []
    part = ranked.filter(where)
    # (past MAX_DEPTH, keys built to defeat the buckets — "a", "aa", "aaa", … — are sorted as they are)
    if count <= LIMIT or j + n <= LIMIT or count - j <= LIMIT or not dims or depth > MAX_DEPTH:
        return _direct(part, order, count, j, n)
    name, dtype = dims[0]
    if name == "flag":
        buckets = _flag_buckets(part, order)
    elif name == "key" and (dtype.is_numeric() or dtype.is_temporal()):
        buckets = _range_buckets(part, order, state)
    elif name == "key":
        buckets = _prefix_buckets(part, order.key, order.descending, state or "")
    else:
        buckets = _prefix_buckets(part, "run_id", order.run_id_descending(), state or "")
    stuck = len(buckets) == 1 and not buckets[0][3] and buckets[0][2] == state  # keys one float apart
    if stuck or sum(b[1] for b in buckets) != count:  # (the counts always add up; a guard, not a path)
        return _direct(part, order, count, j, n)
    ids: list[str] = []
    start = 0
    for predicate, bucket_count, next_state, done in buckets:
        end = start + bucket_count
        if end > j and start < j + n:
            if name == "flag":  # unknown keys (flag 1) are one tie, ordered by run id alone
                rest = [d for d in dims[1:] if not (next_state == 1 and d[0] == "key")]
            else:
                rest = dims[1:] if done else dims
            ids += _select(ranked, order, where & predicate, bucket_count, max(0, j - start),
                           min(end, j + n) - max(start, j), rest, None if done else next_state, depth + 1)
        start = end
        if start >= j + n:
            break
    return ids


def _direct(part: pl.LazyFrame, order: Order, count: int, j: int, n: int) -> list[str]:
    """Sort the part itself, or the top-k nearer its end that holds the places asked for."""
    columns = order.columns()
    if count - j < j + n:  # nearer the far end: the same places, counted from it
        head = count - j
        rows = part.select(columns).sort(columns, descending=order.directions(reverse=True), nulls_last=True)
        ids = rows.head(head).select("run_id").collect(engine=ENGINE)["run_id"].to_list()[::-1]
        return ids[:n]
    rows = part.select(columns).sort(columns, descending=order.directions(), nulls_last=True)
    return rows.head(j + n).select("run_id").collect(engine=ENGINE)["run_id"].to_list()[j:]


def _flag_buckets(part: pl.LazyFrame, order: Order) -> list[tuple]:
    counts = dict(part.group_by(order.flag).agg(pl.len()).collect(engine=ENGINE).iter_rows())
    return [(pl.col(order.flag) == flag, counts[flag], flag, True) for flag in (0, 1) if counts.get(flag)]


def _range_buckets(part: pl.LazyFrame, order: Order, state) -> list[tuple]:
    """Buckets of equal width over the finite keys' range in the part (their min and max, found first); -inf,
    +inf and NaN, which sort below, above and above every number, are buckets of their own. A bucket whose
    smallest and largest key are equal is a tie (compared as stored, not as the float the width is taken on)."""
    value = pl.col(order.key).to_physical().cast(pl.Float64)  # monotone: bucket edges only, never compared
    finite = value.is_finite()
    key = pl.col(order.key).filter(finite)
    bounds = [key.min().alias("lo"), key.max().alias("hi"),
              value.filter(finite).min().alias("lo_f"), value.filter(finite).max().alias("hi_f")]
    lo, hi, lo_f, hi_f = state or part.select(bounds).collect(engine=ENGINE).row(0)
    half_width = (hi_f / 2 - lo_f / 2) if lo_f is not None and hi_f != lo_f else 1.0  # halves: no overflow
    bucket = (pl.when(value.is_nan()).then(pl.lit(BUCKETS + 1))
              .when(value == float("inf")).then(pl.lit(BUCKETS))
              .when(value == float("-inf")).then(pl.lit(-1))
              .otherwise(((value / 2 - (lo_f or 0.0) / 2) / half_width * BUCKETS).floor().clip(0, BUCKETS - 1))
              .cast(pl.Int32))
    rows = (part.group_by(bucket.alias("_bucket")).agg(pl.len().alias("n"), *bounds)
            .sort("_bucket", descending=order.descending).collect(engine=ENGINE))
    return [(bucket == b, n, (lo, hi, lo_f, hi_f), not 0 <= b < BUCKETS or lo == hi)
            for b, n, lo, hi, lo_f, hi_f in rows.iter_rows()]


def _prefix_buckets(part: pl.LazyFrame, column: str, descending: bool, prefix: str) -> list[tuple]:
    """Buckets by the text's first ``len(prefix) + 1`` characters: they follow the text's order (a text equal to
    the prefix is a bucket of its own, before the longer ones in ascending order). Every text of a bucket lies
    between its smallest and largest, so they all share the common prefix of those two: the bucket's next
    narrowing starts after it, however long (tracebacks share hundreds of characters)."""
    head = pl.col(column).str.slice(0, len(prefix) + 1)
    rows = (part.group_by(head.alias("_bucket"))
            .agg(pl.len().alias("n"), pl.col(column).min().alias("lo"), pl.col(column).max().alias("hi"))
            .sort("_bucket", descending=descending).collect(engine=ENGINE))
    return [(head == b, n, os.path.commonprefix([lo, hi]), lo == hi) for b, n, lo, hi in rows.iter_rows()]
