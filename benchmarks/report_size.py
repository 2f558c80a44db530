"""Size and run time of the weekly report over a million runs, against the same report over the sample.

    python benchmarks/report_size.py [--runs 1000000]

Loads the bundled sample, replicates its canonical tables (fresh run ids, same weeks) until there are at
least --runs runs, writes them as a Parquet folder (as `agentops-kit ingest` would), then runs the weekly
report (papermill + nbconvert, with the templates' policies, budgets and readiness) on the sample and on the
big folder. Prints runs, steps, seconds, the HTML and notebook sizes, and the peak memory
(VmHWM) of the kernel that ran the notebook; each report runs in a fresh process.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import polars as pl

import agentops_kit as ak
from agentops_kit.report.export import weekly_report
from agentops_kit.tableset import table_paths
from agentops_kit.weeks import iso_week

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "agentops_kit/data/sample"
TEMPLATES = ROOT / "agentops_kit" / "templates"
OPTIONS = dict(mapping=TEMPLATES / "mapping.yaml", pricing=TEMPLATES / "pricing.yaml",
               policies=TEMPLATES / "policies", readiness_file=TEMPLATES / "readiness.yaml",
               error_budget_file=TEMPLATES / "error_budget.yaml", baselines=TEMPLATES / "baselines.yaml",
               policy_tests=TEMPLATES / "policy_tests")


def replicate(ts: ak.TraceSet, copies: int, out: Path) -> None:
    """``copies`` copies of every table keyed by run, each copy's run ids suffixed with its number."""
    numbers = pl.LazyFrame({"_copy": [f"{i:05d}" for i in range(copies)]})

    def copy(frame: pl.LazyFrame) -> pl.LazyFrame:
        return frame.join(numbers, how="cross").with_columns(
            pl.concat_str("run_id", pl.lit("-"), "_copy").alias("run_id")).drop("_copy")

    big = ak.TraceSet(runs=copy(ts.runs), steps=copy(ts.steps), sources=copy(ts.sources),
                      labels=copy(ts.labels), rejected=ts.rejected, inputs=[str(out)])
    big.write_parquet(out)


def report(traces: Path | str, out: Path, week: str, labels: list) -> dict:
    """Runs the report in a fresh process, whose only Python child is the notebook's kernel."""
    job = json.dumps({"traces": str(traces), "out": str(out), "week": week, "labels": [str(x) for x in labels]})
    done = subprocess.run([sys.executable, __file__, "--job", job], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"report on {traces} failed: {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def kernel_peak_mb(stop: threading.Event, peaks: dict) -> None:
    """Polls the peak RSS (VmHWM) of our child processes: the kernel is the Python one."""
    children = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children")
    while not stop.wait(0.2):
        for pid in children.read_text().split():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
            if "VmHWM" in fields and fields["Name"].strip().startswith("python"):
                peaks[pid] = int(fields["VmHWM"].split()[0]) / 1024


def job(spec: dict) -> None:
    stop, peaks = threading.Event(), {}
    watcher = threading.Thread(target=kernel_peak_mb, args=(stop, peaks), daemon=True)
    watcher.start()
    start = time.perf_counter()
    paths = weekly_report(spec["out"], spec["week"], [spec["traces"]], labels=spec["labels"], **OPTIONS)
    seconds = time.perf_counter() - start
    stop.set()
    watcher.join()
    print(json.dumps({"seconds": seconds, "html_kb": paths["html"].stat().st_size / 1024,
                      "ipynb_kb": paths["notebook"].stat().st_size / 1024,
                      "kernel_mb": max(peaks.values(), default=None)}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--job", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.job:
        job(json.loads(args.job))
        return
    sample = ak.load_traces(SAMPLE / "traces.otlp.jsonl.gz", mapping=OPTIONS["mapping"],
                            pricing=OPTIONS["pricing"], labels=SAMPLE / "labels.csv")
    sample_runs = sample.runs.select(pl.len()).collect().item()
    week = sample.runs.select(iso_week().max()).collect().item()
    copies = math.ceil(args.runs / sample_runs)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        start = time.perf_counter()
        replicate(sample, copies, tmp / "tables")
        built = ak.TraceSet.read_parquet(tmp / "tables")
        runs = built.runs.select(pl.len()).collect().item()
        steps = built.steps.select(pl.len()).collect().item()
        parquet_mb = sum(p.stat().st_size for p in table_paths(tmp / "tables").values()) / 2**20
        print(f"built {runs:,} runs, {steps:,} steps ({copies} copies of the sample) as {parquet_mb:.0f} MB of "
              f"Parquet in {time.perf_counter() - start:.0f} s; report week {week}")
        rows = [("sample", sample_runs, report(SAMPLE / "traces.otlp.jsonl.gz", tmp / "small", week,
                                                [SAMPLE / "labels.csv"])),
                ("replicated", runs, report(tmp / "tables", tmp / "big", week, []))]
        for name, n, r in rows:
            print(f"{name:10s} {n:>9,} runs  report {r['seconds']:6.1f} s  HTML {r['html_kb']:7.0f} KB  "
                  f"notebook {r['ipynb_kb']:7.0f} KB  kernel peak RSS {r['kernel_mb']:6.0f} MB")


if __name__ == "__main__":
    main()
