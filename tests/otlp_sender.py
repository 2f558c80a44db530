"""An agent's tracing, for the receiver's tests and benchmark: the OpenTelemetry Python SDK with its batch span
processor and OTLP/HTTP (protobuf) exporter, sending runs of three spans (agent, model call, tool call).

    python -m tests.otlp_sender ENDPOINT --acked FILE [--runs N | --seconds S --rate R] [--sender K] [--gzip]

Every span of an export the exporter reports as a success is written to FILE (``trace_id span_id`` per line):
the spans the receiver acknowledged. At the end one JSON line on stdout: runs made, spans acknowledged, seconds, and when the sending started and
ended (epoch seconds).
"""

from __future__ import annotations

import argparse
import json
import threading
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("endpoint")
    parser.add_argument("--acked", required=True)
    parser.add_argument("--runs", type=int, default=None)
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--rate", type=float, default=50.0, help="runs per second with --seconds")
    parser.add_argument("--sender", type=int, default=0)
    parser.add_argument("--gzip", action="store_true")
    parser.add_argument("--batch", type=int, default=512)
    args = parser.parse_args()

    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult

    acked = open(args.acked, "a", buffering=1)
    lock = threading.Lock()
    counts = {"acked": 0}

    class RecordingExporter(OTLPSpanExporter):
        def export(self, spans):
            result = super().export(spans)
            if result is SpanExportResult.SUCCESS:
                with lock:
                    acked.write("".join(f"{s.context.trace_id:032x} {s.context.span_id:016x}\n" for s in spans))
                    acked.flush()
                    counts["acked"] += len(spans)
            return result

    exporter = RecordingExporter(endpoint=args.endpoint, timeout=30,
                                 compression=Compression.Gzip if args.gzip else Compression.NoCompression)
    provider = TracerProvider(resource=Resource.create({"service.name": f"sender-{args.sender}"}))
    provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=200_000, schedule_delay_millis=100,
                                                   max_export_batch_size=args.batch))
    tracer = provider.get_tracer("agentops-kit tests")

    started, wall_start = time.perf_counter(), time.time()
    runs = 0
    while True:
        if args.runs is not None and runs >= args.runs:
            break
        if args.seconds is not None:
            elapsed = time.perf_counter() - started
            if elapsed >= args.seconds:
                break
            ahead = runs / args.rate - elapsed
            if ahead > 0:
                time.sleep(ahead)
        with tracer.start_as_current_span("invoke_agent support-bot", attributes={
                "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "support-bot",
                "agentops.sender": args.sender, "agentops.run": runs}):
            with tracer.start_as_current_span("chat gpt-4o", attributes={
                    "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o",
                    "gen_ai.usage.input_tokens": 120, "gen_ai.usage.output_tokens": 30}):
                pass
            with tracer.start_as_current_span("execute_tool lookup_order", attributes={
                    "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup_order"}):
                pass
        runs += 1
    provider.force_flush(timeout_millis=120_000)  # what is queued, with the exporter's retries
    provider.shutdown()  # (the exporter does not retry once shut down)
    acked.close()
    print(json.dumps({"runs": runs, "spans": 3 * runs, "acked": counts["acked"],
                      "seconds": round(time.perf_counter() - started, 3), "start": wall_start, "end": time.time()}),
          flush=True)


if __name__ == "__main__":
    main()
