"""Ingest into a new trace store with polars and with Spark (local[2]), on the same OTLP/JSON exports.

    python benchmarks/store_ingest_spark.py [--files 8] [--runs-per-file 5000] [--spark-master local[2]]

Builds --files exports, one week each, from the bundled sample (the generator of ``store_ingest.py``: the
sample's weeks squeezed into one, copied with fresh trace ids), then ingests them all in one commit into a
new store with polars (in this process), and with Spark twice (each into a new store: the first run pays
for the JIT and the Python workers' start, the second shows the warm figure). Spark's start-up (JVM and
SparkSession) is timed apart. The stores are checked equal (runs, steps, weekly metrics by agent and week)
before any figure is printed; the load average is printed with them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import os
import tempfile
import time
from pathlib import Path

from polars.testing import assert_frame_equal

from agentops_kit import weekly_metrics
from agentops_kit.spark_session import spark_session
from agentops_kit.store import ingest, open_store


def generator():
    spec = importlib.util.spec_from_file_location("store_ingest_bench", Path(__file__).with_name("store_ingest.py"))
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def timed(fn) -> tuple[float, object]:
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--runs-per-file", type=int, default=5000)
    parser.add_argument("--spark-master", default="local[2]")
    args = parser.parse_args()
    bench = generator()
    lines, first, span = bench.sample()
    copies = max(1, round(args.runs_per_file / 616))  # 616 runs in the sample
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        exports = []
        for week in range(args.files):
            path = folder / f"week-{week:03d}.otlp.jsonl"
            bench.export(path, lines, first, span, bench.START + dt.timedelta(weeks=week), dt.timedelta(weeks=1),
                         copies, tag=week)
            exports.append(path)
        size = sum(p.stat().st_size for p in exports) / 1e6
        print(f"{args.files} OTLP/JSON exports, {args.files * copies * 616:,} runs, {size:.0f} MB")
        startup, session = timed(lambda: spark_session(args.spark_master))
        session.conf.set("spark.sql.shuffle.partitions", "4")
        runs = {}
        print(f"{'engine':24} {'ingest':>8}   runs")
        for name, engine in (("polars", None), ("spark (first run)", session), ("spark (second run)", session)):
            store = folder / f"store-{len(runs)}"
            seconds, result = timed(lambda e=engine, s=store: ingest(exports, into=s, engine=e))
            runs[name] = store
            print(f"{name:24} {seconds:7.2f}s   {result.runs_added:,}")  # type: ignore[attr-defined]
        print(f"spark start-up (JVM + SparkSession, {args.spark_master}): {startup:.1f} s, not in the figures above")
        expected = open_store(runs["polars"])
        for name in ("spark (first run)", "spark (second run)"):
            got = open_store(runs[name])
            for table in ("runs", "steps"):
                assert getattr(got, table).collect().height == getattr(expected, table).collect().height
            assert_frame_equal(weekly_metrics(expected, by=("agent", "week")).sort("agent", "week"),
                               weekly_metrics(got, by=("agent", "week")).sort("agent", "week"))
        print("the stores are equal (runs, steps, weekly metrics by agent and week)")
        print("load average (1, 5, 15 min): " + ", ".join(f"{x:.1f}" for x in os.getloadavg()))
        session.stop()


if __name__ == "__main__":
    main()
