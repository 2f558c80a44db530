"""The weekly report and ``metrics`` over a large store, against the in-memory path at 1 M runs.

    python benchmarks/store_scale.py --dir /tmp/agentops-store-bench [--runs 20000000] [--weeks 13]

Builds once, cached under ``--dir``: synthetic canonical tables (``store_data.py``, column-wise with polars)
for ``--runs`` runs spread evenly over the ``--weeks`` ISO weeks that end with 2026-W47, written week by
week; then a store in the layout of ``agentops_kit.store`` made of them. Then, each in a fresh process so
that its peak memory is measured alone: (1) ``metrics`` (agent x week) over the whole store, (2) the weekly
report (``WeeklyReview`` of 2026-W47, then its HTML and digest) over the store, and (3) the same two in memory
over 1 M runs (the tables read whole into memory first, as ``load_traces`` holds them). Prints seconds and peak
RSS; nothing is asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import polars as pl

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import store_data  # noqa: E402  (beside this file)

LAST_WEEK = "2026-W47"
WEEKS_BACK = 8  # the review's default trend window


def weeks_ending(last: str, count: int) -> list[str]:
    from agentops_kit.weeks import parse_week, week_of

    monday = parse_week(last)
    return [week_of(monday - dt.timedelta(weeks=i)) for i in reversed(range(count))]


def build_tables(cache: Path, runs: int, weeks: int) -> Path:
    """``cache/tables/<week>/<table>.parquet`` for every week (kept between runs; a week is written to a
    temporary name and renamed when whole, so an interrupted build resumes)."""
    from agentops_kit.tableset import write_parquet
    from agentops_kit.weeks import parse_week

    root = cache / f"tables-{runs}-{weeks}"
    per_week = runs // weeks
    sizes = [per_week + (1 if i < runs % weeks else 0) for i in range(weeks)]
    # newest week first: an interrupted build already holds the weeks a report of the last week reads
    for i, week in reversed(list(enumerate(weeks_ending(LAST_WEEK, weeks)))):
        done = root / week
        if not done.exists():
            start = time.perf_counter()
            tmp = root / f".{week}.tmp"
            tmp.mkdir(parents=True, exist_ok=True)
            for table, frame in store_data.week_tables(parse_week(week), sum(sizes[:i]), sizes[i]).items():
                with (tmp / f"{table}.parquet").open("wb") as handle:
                    write_parquet(frame, handle)  # as the kit's store writes its partitions
            tmp.rename(done)
            print(f"  built {week}: {sizes[i]:,} runs in {time.perf_counter() - start:.0f} s", flush=True)
    return root


def make_store(cache: Path, tables: Path) -> Path:
    """A store (``agentops_kit.store``'s layout and commit document) whose week partitions are the cached
    tables, hard-linked (no copy). It is read like any store; it holds no ingest history, so it is for
    reading only."""
    from agentops_kit.store.layout import COMMIT, FORMAT, VERSION, WEEK_TABLES, empty_commit, week_dir

    store = cache / f"store-{tables.name.removeprefix('tables-')}"
    doc = {**empty_commit(), "format": FORMAT, "version": VERSION, "commit": 1, "created": "benchmark"}
    for folder in sorted(p for p in tables.iterdir() if p.is_dir() and not p.name.startswith(".")):
        week = folder.name
        for table in WEEK_TABLES:
            source = folder / f"{table}.parquet"
            if not source.exists():
                continue  # facts: only what re-assembling a run needs at the next ingest
            rows = pl.scan_parquet(source).select(pl.len()).collect().item()
            if not rows:
                continue
            name = f"{week_dir(table, week)}/part-000001-bench.parquet"
            (store / name).parent.mkdir(parents=True, exist_ok=True)
            if not (store / name).exists():
                os.link(source, store / name)
            doc["parts"][table][week] = [{"file": name, "rows": rows, "bytes": source.stat().st_size}]
        span = pl.scan_parquet(folder / "runs.parquet").select(
            pl.col("started_at").min().alias("first"), pl.col("started_at").max().alias("last")).collect().row(0)
        doc["weeks"][week] = {"first": span[0].isoformat(), "last": span[1].isoformat(),
                              "runs": doc["parts"]["runs"][week][0]["rows"]}
    (store / COMMIT).write_text(json.dumps(doc, indent=1))
    return store


def job(kind: str, target: str) -> None:
    """Runs in a child process; prints seconds, peak RSS (MB) and what was computed, as JSON."""
    import agentops_kit as ak

    start = time.perf_counter()
    if kind.startswith("memory"):
        frames = {t: pl.read_parquet(Path(target) / "*" / f"{t}.parquet") for t in ("runs", "steps", "sources",
                                                                                   "labels", "rejected")}
        ts = ak.TraceSet(**{t: f.lazy() for t, f in frames.items()}, inputs=[target])
    elif kind.endswith(("metrics", "inspector", "pages")):
        ts = ak.open_store(target)  # every week
    else:
        ts = None  # the review opens the store itself
    loaded = time.perf_counter() - start
    if kind == "check_pages":  # pages deep in the order against one sort of every run (memory not measured)
        from agentops_kit.inspection.run_search import RunQuery, RunSearch

        search = RunSearch(ts)
        facts = {}
        for query, page in ((RunQuery(), search.total // 50 + 1), (RunQuery(sort_by="cost_usd", descending=False), 123_457),
                            (RunQuery(sort_by="agent"), 300_001), (RunQuery(sort_by="llm_calls"), 250_000)):
            shown = search.page(query, page=page, size=25).rows["run_id"].to_list()
            everything = (ts.runs.select("run_id", query.sort_by)
                          .with_columns(pl.col(query.sort_by).is_null().cast(pl.Int8).alias("_null"))
                          .sort(["_null", query.sort_by, "run_id"], descending=[False, query.descending, False])
                          .slice((page - 1) * 25, 25).collect()["run_id"].to_list())
            facts[f"{query.sort_by} page {page:,}"] = "same" if shown == everything else "DIFFERENT"
    elif kind.endswith("inspector"):  # the run inspector's search: pages from the start, the middle, a filter
        from agentops_kit.inspection.run_search import RunQuery, RunSearch

        search = RunSearch(ts)
        middle = search.page(RunQuery(), page=search.total // 50 + 1, size=25)
        filtered = search.page(RunQuery(agent="SocAlertTriage", outcome="failure", sort_by="cost_usd"), page=3)
        first = search.page(RunQuery(), page=1)
        facts = {"runs": search.total, "middle page": middle.page, "rows": first.rows.height + middle.rows.height
                 + filtered.rows.height, "filtered matches": filtered.matching}
    elif kind.endswith("metrics"):
        engine = "streaming" if kind.startswith("store") else "auto"  # as the metrics command runs it
        with pl.Config(engine_affinity=engine):
            frame = ak.weekly_metrics(ts, by=("agent", "week"))
        facts = {"rows": frame.height, "runs": int(frame["runs"].sum())}
    else:
        if kind.startswith("store"):  # reads only the weeks of the trend window
            review = ak.WeeklyReview.from_store(target, LAST_WEEK, weeks_back=WEEKS_BACK)
        else:
            from agentops_kit.report.inputs import ReviewInputs

            review = ak.WeeklyReview.from_traceset(ts, LAST_WEEK, weeks_back=WEEKS_BACK, inputs=ReviewInputs.of([]))
        html, digest = review.html(), review.digest()
        facts = {"runs in the week": int(review.headline["runs"].sum()), "trend rows": review.metrics.height,
                 "html bytes": len(html), "digest lines": len(digest.splitlines())}
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "loaded": loaded, "peak_mb": peak, **facts}))


def run_job(kind: str, target: Path) -> dict | None:
    out = subprocess.run([sys.executable, __file__, "--job", kind, str(target)], capture_output=True, text=True)
    if out.returncode:
        print(f"{kind:16s} failed: {(out.stderr.strip().splitlines() or ['?'])[-1]}")
        return None
    r = json.loads(out.stdout.strip().splitlines()[-1])
    facts = "  ".join(f"{k}={v:,}" if isinstance(v, int | float) else f"{k}={v}"
                      for k, v in r.items() if k not in ("seconds", "loaded", "peak_mb"))
    print(f"{kind:16s} {r['seconds']:8.1f} s  peak RSS {r['peak_mb']:7.0f} MB  {facts}", flush=True)
    return r


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", type=Path, required=False, help="cache folder for the tables and the store")
    parser.add_argument("--runs", type=int, default=20_000_000, help="runs in the store")
    parser.add_argument("--weeks", type=int, default=13, help="ISO weeks the runs are spread over (a quarter)")
    parser.add_argument("--memory-runs", type=int, default=1_000_000, help="runs of the in-memory comparison")
    parser.add_argument("--build-only", action="store_true", help="build the cached tables and store, then stop")
    parser.add_argument("--check-pages", action="store_true",
                        help="also check four deep inspector pages against a sort of every run (needs ~6 GB)")
    parser.add_argument("--job", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.job:
        job(*args.job)
        return
    if args.dir is None:
        parser.error("--dir is required")
    print(f"building (once) {args.runs:,} runs over {args.weeks} weeks under {args.dir}", flush=True)
    tables = build_tables(args.dir, args.runs, args.weeks)
    memory = build_tables(args.dir, args.memory_runs, args.weeks)
    store = make_store(args.dir, tables)
    if args.build_only:
        return
    steps = pl.scan_parquet(tables / "*" / "steps.parquet").select(pl.len()).collect().item()
    size = sum(p.stat().st_size for p in store.rglob("*") if p.is_file())
    print(f"store: {args.runs:,} runs, {steps:,} steps over {args.weeks} weeks, {size / 2**30:.1f} GiB on disk")
    for kind in ("store_metrics", "store_report", "store_inspector", *(["check_pages"] if args.check_pages else [])):
        run_job(kind, store)
    print(f"in memory: {args.memory_runs:,} runs over the same weeks, every table read whole first")
    for kind in ("memory_metrics", "memory_report"):
        run_job(kind, memory)


if __name__ == "__main__":
    main()
