"""What the kill switch costs an agent: one ``guard(...).check()`` against an approvals store whose audit log
holds --rows rows (requests, views and a few stops), keyed, on SQLite and on PostgreSQL.

    python benchmarks/guard_check.py [--rows 100000] [--calls 200] [--pg postgresql+psycopg://postgres@127.0.0.1:5432/test]

Each check reads the head, counts the log's rows and replays the stop rows (with their MACs). Prints the
median and 95th percentile of --calls checks per store.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

from agentops_kit.approvals import ApprovalQueue, audit, generate_key, guard


def fill(q: ApprovalQueue, rows: int) -> None:
    """A real log: 200 requests through the queue, 20 stop/resume pairs, then views of those requests
    (rows the queue writes on ``get(viewer=...)``) appended in one transaction up to ``rows``."""
    ids = [q.submit(agent=f"Agent{i % 7}", action="pay", params={"invoice": i}, requested_by="svc",
                    run_id=f"run-{i}").id for i in range(200)]
    for i in range(20):
        q.stop_agent("Agent3", reason=f"incident {i}", actor="alice")
        q.resume_agent("Agent3", actor="bob")
    now = dt.datetime.now(dt.timezone.utc)

    def work(conn):
        head = audit.lock_head(conn, q.store_id, q.key)
        for i in range(rows - head.seq):
            head = audit.append(conn, head, q.key, ids[i % len(ids)], "viewed", "carol", {"content_hash": ""}, now)

    with q.engine.begin() as conn:
        work(conn)


def measure(url: str, key_file: Path, rows: int, calls: int) -> tuple[float, float]:
    q = ApprovalQueue(url, key_file=key_file)
    fill(q, rows)
    q.stop_agent("Agent5", reason="benchmark", actor="alice")
    g = guard(q, agent="Agent1")
    g.check()  # connection pool warm
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        g.check()
        times.append(time.perf_counter() - start)
    q.close()
    times.sort()
    return statistics.median(times) * 1000, times[int(0.95 * (len(times) - 1))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        key_file = Path(tmp) / "audit.key"
        generate_key(key_file)
        median, p95 = measure(f"sqlite:///{Path(tmp) / 'approvals.db'}", key_file, args.rows, args.calls)
        print(f"SQLite, {args.rows:,} audit rows: guard check median {median:.2f} ms, p95 {p95:.2f} ms")
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        admin = sa.create_engine(args.pg)
        with admin.begin() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
        try:
            median, p95 = measure(f"{args.pg}?options=-csearch_path%3D{schema}", key_file, args.rows, args.calls)
            print(f"PostgreSQL, {args.rows:,} audit rows: guard check median {median:.2f} ms, p95 {p95:.2f} ms")
        finally:
            with admin.begin() as conn:
                conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
            admin.dispose()


if __name__ == "__main__":
    main()
