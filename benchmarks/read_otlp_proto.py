"""Reading the same export as OTLP/JSON lines and as the Collector's `format: proto` file (plain and zstd).

    python benchmarks/read_otlp_proto.py [--copies 8]

Builds the export from the bundled sample (each copy gets fresh trace ids), converts every request to
protobuf with opentelemetry-proto (hex ids to bytes), writes it size-prefixed as the file exporter does, and
times agentops_kit.load_traces down to the collected steps for: the JSON file (compiled decoder), the JSON
file with the compiled decoder off, the protobuf file, and the protobuf file with each message zstd-compressed.
Prints spans per second and seconds (best of 3), and the file sizes.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import re
import sys
import tempfile
import time
from pathlib import Path

import orjson
import zstandard
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import agentops_kit as ak  # noqa: E402
from agentops_kit.readers import otlp_fast  # noqa: E402


def to_proto(line: bytes) -> bytes:
    doc = orjson.loads(line)
    for rs in doc["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for span in ss["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if span.get(key):
                        span[key] = base64.b64encode(bytes.fromhex(span[key])).decode()
    return json_format.ParseDict(doc, ExportTraceServiceRequest()).SerializeToString()


def build(folder: Path, copies: int) -> dict[str, Path]:
    lines = gzip.decompress((ROOT / "agentops_kit/data/sample/traces.otlp.jsonl.gz").read_bytes()).splitlines()
    trace = re.compile(rb'"traceId":"([0-9a-f]{8})')
    json_lines = [trace.sub(b'"traceId":"%08x' % copy, line) for copy in range(copies) for line in lines if line]
    paths = {"json": folder / "traces.jsonl", "proto": folder / "traces.binpb", "proto+zstd": folder / "traces.zst.binpb"}
    paths["json"].write_bytes(b"\n".join(json_lines) + b"\n")
    bodies = [to_proto(line) for line in json_lines]
    zstd = zstandard.ZstdCompressor()
    for name, payloads in (("proto", bodies), ("proto+zstd", [zstd.compress(b) for b in bodies])):
        paths[name].write_bytes(b"".join(len(p).to_bytes(4, "big") + p for p in payloads))
    return paths


def timed(path: Path, compiled: bool = True) -> tuple[float, int]:
    native = otlp_fast.native
    if not compiled:
        otlp_fast.native = None
    try:
        best, spans = float("inf"), 0
        for _ in range(3):
            start = time.perf_counter()
            spans = ak.load_traces(path).steps.collect().height
            best = min(best, time.perf_counter() - start)
        return best, spans
    finally:
        otlp_fast.native = native


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=8, help="copies of the sample (616 runs each)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        paths = build(Path(tmp), args.copies)
        print(f"{'input':<28}{'MB':>8}{'spans':>10}{'seconds':>10}{'spans/s':>12}")
        for label, path, compiled in (("OTLP/JSON (compiled)", paths["json"], True),
                                      ("OTLP/JSON (Python reader)", paths["json"], False),
                                      ("OTLP/protobuf", paths["proto"], True),
                                      ("OTLP/protobuf, zstd", paths["proto+zstd"], True)):
            seconds, spans = timed(path, compiled)
            size = path.stat().st_size / 1e6
            print(f"{label:<28}{size:>8.1f}{spans:>10}{seconds:>10.2f}{spans / seconds:>12,.0f}")


if __name__ == "__main__":
    main()
