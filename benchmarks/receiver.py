"""Spans per second that `agentops-kit collect` receives and commits, sent over loopback by the OpenTelemetry
Python SDK (batch span processor, OTLP/HTTP protobuf exporter) from several sender processes.

    python benchmarks/receiver.py [--senders 4] [--runs 2500] [--commit-every 2] [--gzip]

Each sender makes ``--runs`` runs of three spans as fast as it can (tests/otlp_sender.py). Received: spans the
exporters were answered 200 for, from the first sender's first span to the last sender's last answer.
Committed: spans in the store once the receiver, sent SIGTERM after the last sender, has drained and made its
last commit, over the time from that first span to the receiver's exit. The receiver's CPU time and peak memory come from the kernel's accounting of its process
(``wait4``). Phoenix published 80 spans/s on SQLite (Arize-ai/phoenix#3027) for comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PHOENIX_SQLITE_SPANS_PER_S = 80  # Arize-ai/phoenix#3027


def start_receiver(store: Path, commit_every: float) -> tuple[subprocess.Popen, int, list[str]]:
    proc = subprocess.Popen([sys.executable, "-m", "agentops_kit", "collect", "--into", str(store), "--port", "0",
                             "--commit-every", str(commit_every)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, cwd=ROOT)
    lines: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line.rstrip())
        match = re.search(r"listening on http://127\.0\.0\.1:(\d+)/", line)
        if match:
            return proc, int(match[1]), lines
    raise SystemExit("the receiver did not start:\n" + "\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--runs", type=int, default=2500, help="runs (of 3 spans) per sender")
    parser.add_argument("--commit-every", type=float, default=2.0)
    parser.add_argument("--gzip", action="store_true", help="senders compress their requests")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "store"
        receiver, port, lines = start_receiver(store, args.commit_every)
        endpoint = f"http://127.0.0.1:{port}/v1/traces"
        senders = [subprocess.Popen([sys.executable, str(ROOT / "tests" / "otlp_sender.py"), endpoint, "--acked",
                                     str(Path(tmp) / f"acked-{i}.txt"), "--runs", str(args.runs), "--sender", str(i),
                                     *(["--gzip"] if args.gzip else [])],
                                    stdout=subprocess.PIPE, text=True) for i in range(args.senders)]
        results = [json.loads(s.communicate()[0].strip().splitlines()[-1]) for s in senders]
        started = min(r["start"] for r in results)  # the senders' first span (their imports left out)
        received_s = max(r["end"] for r in results) - started
        receiver.send_signal(signal.SIGTERM)
        assert receiver.stdout is not None
        lines += [line.rstrip() for line in receiver.stdout]
        _, status, usage = os.wait4(receiver.pid, 0)
        committed_s = time.time() - started
        receiver.returncode = os.waitstatus_to_exitcode(status)
        if receiver.returncode != 0:
            raise SystemExit("the receiver failed:\n" + "\n".join(lines))

        sys.path.insert(0, str(ROOT))
        from agentops_kit.store import open_store

        steps = open_store(store).steps.select("run_id", "step_id").collect()
        acked = sum(r["acked"] for r in results)
        sent = sum(r["spans"] for r in results)
        commits = sum(1 for line in lines if re.search(r"collect: commit \d+:", line))
        cpu = usage.ru_utime + usage.ru_stime
        print(f"senders: {args.senders} processes x {args.runs} runs x 3 spans = {sent} spans "
              f"({'gzip' if args.gzip else 'plain'} protobuf, SDK batch exporter); {os.cpu_count()} CPU(s)")
        print(f"acknowledged: {acked} spans; in the store: {steps.height} steps "
              f"({steps.unique().height} distinct), {commits} commit(s) every {args.commit_every:g} s")
        print(f"received:  {acked / received_s:9.0f} spans/s  ({received_s:.2f} s until the last sender finished)")
        print(f"committed: {steps.height / committed_s:9.0f} spans/s  ({committed_s:.2f} s until the last commit)")
        print(f"receiver:  CPU {cpu:.2f} s ({100 * cpu / committed_s:.0f} % of one core; "
              f"{steps.height / cpu:.0f} spans per CPU second, start-up and store commits included), "
              f"peak memory {usage.ru_maxrss / 1024:.0f} MB")
        print(f"Phoenix on SQLite (published, Arize-ai/phoenix#3027): {PHOENIX_SQLITE_SPANS_PER_S} spans/s")


if __name__ == "__main__":
    main()
