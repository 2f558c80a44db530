"""Ingest throughput on a large OTLP/JSON export, against a bare JSON parse of the same bytes.

    python benchmarks/ingest_otlp.py [--mb 160] [--dense-mb 151]

Builds the export from the bundled sample (each copy gets fresh trace ids), then, each in a fresh
process so that peak memory is measured alone: (1) a bare orjson parse of every line, (2) the same with
the standard library's json, (3) orjson plus a Python loop that only visits every span and attribute (no
decoding: the least any reader written in Python must do), (4) agentops_kit.load_traces with pricing, down
to the collected tables, import of the library included, (5) the same with the compiled decoder switched
off (an install without a C compiler), (6) a naive polars.read_ndjson of the file. Prints MB/s, seconds
and peak RSS. Then the same for (1) and (4) on a span-dense export (``--dense-mb``, about 1.5 k short GenAI
spans per MB, in requests of 512 spans as the OpenTelemetry SDK's batch processor sends them).
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
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


# Short GenAI spans as the OpenTelemetry SDK's OTLP exporter writes them: one request per batch of 512 spans
# (BatchSpanProcessor's default), each trace an invoke_agent root with three chat calls and two tool calls.
DENSE_BATCH = 512
AGENTS = ("support-refund-agent", "invoice-categorizer", "soc-alert-triage")
MODELS = ("gpt-4o-mini", "gpt-4o", "claude-3-5-haiku")


def _attr(key: str, value) -> str:
    kind = "intValue" if isinstance(value, int) else "stringValue"
    return f'{{"key":"{key}","value":{{"{kind}":"{value}"}}}}'


def _dense_trace(n: int, ids: random.Random) -> list[str]:
    """The spans of trace number ``n``, as OTLP/JSON objects (random ids, as the SDK's generator makes them)."""
    trace, span_ids = f"{ids.getrandbits(128):032x}", [f"{ids.getrandbits(64):016x}" for _ in range(6)]
    root = span_ids[0]
    start = 1_791_200_000_000_000_000 + n * 7_000_000_000
    agent, model = AGENTS[n % 3], MODELS[n % 3]

    def span(i: int, name: str, parent: str | None, attrs: list[str], begin: int, end: int) -> str:
        parent_part = f'"parentSpanId":"{parent}",' if parent else ""
        return (f'{{"traceId":"{trace}","spanId":"{span_ids[i]}",{parent_part}"flags":257,"name":"{name}",'
                f'"kind":{1 if parent else 2},"startTimeUnixNano":"{start + begin}","endTimeUnixNano":"{start + end}",'
                f'"attributes":[{",".join(attrs)}],"status":{{}}}}')

    spans = [span(0, f"invoke_agent {agent}", None, [
        _attr("gen_ai.operation.name", "invoke_agent"), _attr("gen_ai.agent.name", agent),
        _attr("gen_ai.provider.name", "openai")], 0, 6_500_000_000)]
    for i in range(1, 6):
        at = i * 1_000_000_000
        if i % 2:
            attrs = [_attr("gen_ai.operation.name", "chat"), _attr("gen_ai.provider.name", "openai"),
                     _attr("gen_ai.request.model", model), _attr("gen_ai.response.model", f"{model}-2024-07-18"),
                     _attr("gen_ai.response.id", f"chatcmpl-{n:x}{i}"), _attr("server.address", "api.openai.com"),
                     _attr("server.port", 443),
                     _attr("gen_ai.usage.input_tokens", 900 + n % 700), _attr("gen_ai.usage.output_tokens", 40 + n % 90)]
            spans.append(span(i, f"chat {model}", root, attrs, at, at + 800_000_000))
        else:
            tool = ("order_lookup", "refund_issue")[i // 2 - 1]
            attrs = [_attr("gen_ai.operation.name", "execute_tool"), _attr("gen_ai.tool.name", tool),
                     _attr("gen_ai.tool.type", "function"), _attr("gen_ai.tool.call.id", f"call_{n:x}{i}")]
            spans.append(span(i, f"execute_tool {tool}", root, attrs, at, at + 300_000_000))
    return spans


def build_dense(path: Path, target_mb: int) -> tuple[int, int]:
    """An export of short GenAI spans (about 1.5 k per MB), of about ``target_mb`` MB: (bytes, spans)."""
    resource = ('{"resource":{"attributes":[' + ",".join([
        _attr("service.name", "agents"), _attr("telemetry.sdk.language", "python"),
        _attr("telemetry.sdk.name", "opentelemetry"), _attr("telemetry.sdk.version", "1.38.0")]) + "]},")
    scope = '"scopeSpans":[{"scope":{"name":"opentelemetry.instrumentation.openai_v2","version":"2.1b0"},"spans":['
    size, spans, trace, batch, ids = 0, 0, 0, [], random.Random(16)
    with path.open("w") as out:
        while size < target_mb * 1024 * 1024:
            while len(batch) < DENSE_BATCH:
                batch += _dense_trace(trace, ids)
                trace += 1
            line = '{"resourceSpans":[' + resource + scope + ",".join(batch[:DENSE_BATCH]) + "]}]}]}\n"
            out.write(line)
            size, spans, batch = size + len(line), spans + DENSE_BATCH, batch[DENSE_BATCH:]
    return size, spans


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


def measure(path: Path, size: int, kinds: tuple[str, ...]) -> None:
    """Each job of ``kinds`` on the export at ``path`` (``size`` bytes), in its own process; prints the figures."""
    mb = size / 1024 / 1024
    results = {}
    for kind in kinds:
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=160, help="size of the export to build (MB)")
    parser.add_argument("--dense-mb", type=int, default=151, help="size of the span-dense export to build (MB)")
    parser.add_argument("--job", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.job:
        job(*args.job)
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.otlp.jsonl"
        size = build(path, args.mb)
        print(f"export: {size / 2**20:.1f} MB of OTLP/JSON ({sum(1 for _ in path.open())} lines), "
              "copies of the bundled sample")
        measure(path, size, ("orjson", "json", "orjson_visit", "agentops", "agentops_python", "polars_ndjson"))
        path.unlink()
        dense = Path(tmp) / "dense.otlp.jsonl"
        size, spans = build_dense(dense, args.dense_mb)
        print(f"\nspan-dense export: {size / 2**20:.1f} MB of OTLP/JSON, {spans:,} short GenAI spans "
              f"({spans / (size / 2**20):,.0f} per MB) in requests of {DENSE_BATCH}")
        measure(dense, size, ("orjson", "agentops"))


if __name__ == "__main__":
    main()
