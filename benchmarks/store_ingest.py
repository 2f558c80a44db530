"""Ingesting one more day into a trace store that already holds many weeks: time tracks the new data, not the store.

    python benchmarks/store_ingest.py [--weeks 52] [--runs-per-day 500] [--checkpoints 1,4,13,26,52]

Builds one OTLP/JSON export per week from the bundled sample (its seven weeks squeezed into one, copied with
fresh trace ids until the week holds --runs-per-day x 7 runs) and ingests them one by one into a new store. At each
checkpoint it ingests one more day (a day's export of the same density, after the last week) and prints the
store's weeks, runs and size before that ingest, the day's runs and the seconds the day's ingest took. The
library is imported once; every ingest is timed alone, in this process.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import re
import tempfile
import time
from pathlib import Path

from agentops_kit.store import ingest
from agentops_kit.store.housekeeping import info

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "agentops_kit/data/sample/traces.otlp.jsonl.gz"
TIME = re.compile(r'"(start|end)TimeUnixNano":"(\d+)"')
TRACE = re.compile(r'"traceId":"([0-9a-f]{8})')
START = dt.datetime(2025, 1, 6, tzinfo=dt.timezone.utc)  # a Monday: week 2025-W02


def sample() -> tuple[list[str], int, int]:
    lines = gzip.decompress(SAMPLE.read_bytes()).decode().splitlines()
    times = [int(m[2]) for line in lines for m in TIME.finditer(line)]
    return lines, min(times), max(times) - min(times) + 1


def export(path: Path, lines: list[str], first: int, span: int, begin: dt.datetime, length: dt.timedelta,
           copies: int, tag: int) -> None:
    """The sample's time range squeezed into [begin, begin + length), ``copies`` times with fresh trace ids."""
    origin = int(begin.timestamp() * 1e9)
    scale = length.total_seconds() * 1e9 / span

    def moved(match: re.Match) -> str:
        return f'"{match[1]}TimeUnixNano":"{origin + int((int(match[2]) - first) * scale)}"'

    with path.open("w") as out:
        for copy in range(copies):
            prefix = f"{tag:04x}{copy:04x}"
            for line in lines:
                out.write(TRACE.sub(f'"traceId":"{prefix}', TIME.sub(moved, line)) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--weeks", type=int, default=52)
    parser.add_argument("--runs-per-day", type=int, default=500)
    parser.add_argument("--checkpoints", default="1,4,13,26,52")
    args = parser.parse_args()
    checkpoints = {int(c) for c in args.checkpoints.split(",")}
    lines, first, span = sample()
    per_copy = 616  # runs in the sample
    week_copies = max(1, round(args.runs_per_day * 7 / per_copy))
    day_copies = max(1, round(args.runs_per_day / per_copy))
    print(f"{week_copies * per_copy} runs per week in the store; the day ingested: {day_copies * per_copy} runs")
    print(f"{'store weeks':>11} {'store runs':>10} {'store MB':>9} {'day runs':>8} {'day MB':>7} {'ingest s':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        folder, store = Path(tmp), Path(tmp) / "store"
        for week in range(args.weeks):
            path = folder / f"week-{week:03d}.otlp.jsonl"
            export(path, lines, first, span, START + dt.timedelta(weeks=week), dt.timedelta(weeks=1), week_copies,
                   tag=week)
            ingest(path, into=store)
            path.unlink()
            if week + 1 in checkpoints:
                before = info(store)
                day = folder / f"day-{week:03d}.otlp.jsonl"
                export(day, lines, first, span, START + dt.timedelta(weeks=week + 1), dt.timedelta(days=1),
                       day_copies, tag=0x8000 + week)
                size = day.stat().st_size / 1e6
                started = time.perf_counter()
                result = ingest(day, into=store)
                seconds = time.perf_counter() - started
                print(f"{week + 1:>11} {before['runs']:>10} {before['bytes'] / 1e6:>9.1f} {result.runs_added:>8} "
                      f"{size:>7.1f} {seconds:>8.2f}")
                day.unlink()


if __name__ == "__main__":
    main()
