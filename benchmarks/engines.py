"""weekly_metrics by agent × week on polars, DuckDB and Spark local[2], side by side, on one generated table set
(the generator of ``weekly_metrics.py``: runs over 52 weeks, approvals, customer-impact labels).

    python benchmarks/engines.py [--runs 2000000] [--repeat 3] [--spark-master local[2]]
    python benchmarks/engines.py --store STORE [--repeat 1]   # a trace store (the 20 M runs of store_scale.py)

Each engine runs the same narwhals definition (``agentops_kit/analytics/engine.py``); DuckDB and Spark scan
the table set's Parquet files themselves. Spark's start-up (JVM and SparkSession) is timed apart; its first
query (JIT, planning) is printed apart from the best of --repeat. The results of the three are checked
equal before any figure is printed.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import tempfile
import time
from pathlib import Path

from polars.testing import assert_frame_equal

from agentops_kit import TraceSet, open_store, weekly_metrics
from agentops_kit.analytics.engine import get_engine, spark_session


def generator():
    spec = importlib.util.spec_from_file_location("weekly_metrics_bench", Path(__file__).with_name("weekly_metrics.py"))
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module.build


def timed(fn, repeat: int) -> tuple[float, float, object]:
    """(first run, best of the runs after it, the result)."""
    t0 = time.perf_counter()
    result = fn()
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return first, min(times) if times else first, result


@contextlib.contextmanager
def traces(args):
    """The TraceSet measured: a store's every week (``--store``), or a generated table set in a temporary folder."""
    if args.store:
        ts = open_store(args.store)
        runs = ts.runs.select("run_id").collect(engine="streaming").height
        size = sum(p.stat().st_size for p in Path(args.store).rglob("*.parquet"))
        print(f"store {args.store}: {runs:,} runs, {size / 1e9:.1f} GB of Parquet")
        yield ts
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "tables"
        t0 = time.perf_counter()
        generator()(folder, args.runs)
        size = sum(p.stat().st_size for p in folder.rglob("*.parquet"))
        print(f"built {args.runs:,} runs as {size / 1e6:.0f} MB of Parquet in {time.perf_counter() - t0:.1f} s")
        yield TraceSet.read_parquet(folder)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=2_000_000)
    parser.add_argument("--store", help="a trace store to measure instead of generated runs")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--spark-master", default="local[2]")
    args = parser.parse_args()
    import duckdb

    with traces(args) as ts:
        t0 = time.perf_counter()
        session = spark_session(args.spark_master)
        session.conf.set("spark.sql.shuffle.partitions", "4")
        startup = time.perf_counter() - t0
        engines = {"polars": get_engine("polars"), "duckdb": get_engine(duckdb.connect()), "spark": get_engine(session)}
        results = {}
        print(f"{'engine':8} {'first run':>10} {'best of ' + str(args.repeat):>12}   groups (agent x week)")
        for name, engine in engines.items():
            first, best, frame = timed(lambda e=engine: weekly_metrics(ts, by=("agent", "week"), engine=e), args.repeat)
            results[name] = frame
            print(f"{name:8} {first:9.2f}s {best:11.2f}s   {frame.height}", flush=True)  # type: ignore[attr-defined]
        print(f"spark start-up (JVM + SparkSession, {args.spark_master}): {startup:.1f} s, not in the figures above")
        for name in ("duckdb", "spark"):
            assert_frame_equal(results["polars"], results[name], check_exact=False, rel_tol=1e-9, abs_tol=1e-9)
        print("the three results are equal (counts exactly, money and quantiles to 1e-9)")
        session.stop()


if __name__ == "__main__":
    main()
