"""Ingest throughput on a large OTLP/JSON export, against a bare JSON parse of the same bytes.

    python benchmarks/ingest_otlp.py [--mb 160]

Builds the export from the bundled sample (each copy gets fresh trace ids), then, each in a fresh
process so that peak memory is measured alone: (1) a bare orjson parse of every line, (2) the same with
the standard library's json, (3) orjson plus a Python loop that only visits every span and attribute (no
decoding: the least any reader written in Python must do), (4) agentops_kit.load_traces with pricing, down
to the collected tables, import of the library included, (5) the same with the compiled decoder switched
off (an install without a C compiler), (6) a naive polars.read_ndjson of the file. Prints MB/s, seconds
and peak RSS.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def build(path: Path, target_mb: int) -> int:
    lines = gzip.decompress((ROOT / "agentops_kit/data/sample/traces.otlp.jsonl.gz").read_bytes()).decode().splitlines()
    trace = re.compile(r'"traceId":"([0-9a-f]{8})')
    size, copy = 0, 0
    with path.open("w") as out:
        while size < target_mb * 1024 * 1024:
            prefix = f"{copy:08x}"
            for line in lines:
                text = trace.sub(f'"traceId":"{prefix}', line) + "\n"
                out.write(text)
                size += len(text)
            copy += 1
    return size


def job(kind: str, path: str) -> None:
    """Runs in a child process; prints seconds and peak RSS (MB) as JSON."""
    start = time.perf_counter()
    if kind == "orjson":
        import orjson

        with open(path, "rb") as f:
            for line in f:
                orjson.loads(line)
    elif kind == "json":
        with open(path, "rb") as f:
            for line in f:
                json.loads(line)
    elif kind == "orjson_visit":
        import orjson

        keys = []
        with open(path, "rb") as f:
            for line in f:
                for rs in orjson.loads(line)["resourceSpans"]:
                    for ss in rs["scopeSpans"]:
                        for span in ss["spans"]:
                            keys.append(span["spanId"])
                            for kv in span.get("attributes") or ():
                                keys.append(kv["key"])
    elif kind in ("agentops", "agentops_python"):
        import agentops_kit as ak

        if kind == "agentops_python":  # what an install without a C compiler gets
            from agentops_kit.readers import otlp_fast

            otlp_fast.native = None
        ts = ak.load_traces(path, pricing=ROOT / "agentops_kit/templates/pricing.yaml")
        runs, steps = ts.runs.collect(), ts.steps.collect()
        extra = {"runs": runs.height, "steps": steps.height, "rejected": ts.rejected.collect().height}
    elif kind == "polars_ndjson":
        import polars as pl

        pl.read_ndjson(path, infer_schema_length=None)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_mb": peak, **(extra if kind.startswith("agentops") else {})}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=160, help="size of the export to build (MB)")
    parser.add_argument("--job", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.job:
        job(*args.job)
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.otlp.jsonl"
        size = build(path, args.mb)
        mb = size / 1024 / 1024
        print(f"export: {mb:.1f} MB of OTLP/JSON ({sum(1 for _ in path.open())} lines)")
        results = {}
        for kind in ("orjson", "json", "orjson_visit", "agentops", "agentops_python", "polars_ndjson"):
            out = subprocess.run([sys.executable, __file__, "--job", kind, str(path)], capture_output=True, text=True)
            if out.returncode:
                print(f"{kind:16s} failed: {out.stderr.strip().splitlines()[-1]}")
                continue
            results[kind] = json.loads(out.stdout.strip().splitlines()[-1])
            r = results[kind]
            more = (f"  runs={r['runs']} steps={r['steps']} rejected={r['rejected']}"
                    if kind.startswith("agentops") else "")
            print(f"{kind:16s} {r['seconds']:7.2f} s  {mb / r['seconds']:7.1f} MB/s  "
                  f"peak RSS {r['peak_mb']:7.0f} MB{more}")
        if "agentops" in results and "orjson" in results:
            ratio = results["orjson"]["seconds"] / results["agentops"]["seconds"]
            print(f"agentops ingest rate = {ratio:.0%} of the bare orjson parse rate (target >= 50%)")
            if "orjson_visit" in results:
                floor = results["orjson"]["seconds"] / results["orjson_visit"]["seconds"]
                print(f"a Python loop that only visits spans and attributes = {floor:.0%} of it")
            print(f"agentops peak memory = {results['agentops']['peak_mb'] / mb:.2f} x the file size (target <= 3x)")


if __name__ == "__main__":
    main()
