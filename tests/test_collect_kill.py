"""THE kill test: an agent's real OpenTelemetry SDK exporter keeps sending runs while the receiver is killed
(SIGKILL) and restarted at random moments; afterwards every span the receiver acknowledged is in the store
exactly once, and no span is there twice, though the exporter retried requests the receiver had written but
not answered."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time

from .collect_receiver import Receiver, free_port
from .conftest import ROOT

KILLS = 3


def test_kill_9_at_random_moments_loses_no_acknowledged_span_and_duplicates_none(tmp_path):
    seed = random.randrange(1_000_000)
    chance = random.Random(seed)
    store, acked_file, port = tmp_path / "store", tmp_path / "acked.txt", free_port()
    receiver = Receiver(store, "--commit-every", "0.3", port=port).start()
    sender = subprocess.Popen(
        [sys.executable, "-m", "tests.otlp_sender", receiver.url, "--acked", str(acked_file), "--seconds", "9",
         "--rate", "40", "--batch", "64"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    outputs, kills_while_sending = [], 0
    try:
        for _ in range(KILLS):
            time.sleep(chance.uniform(0.4, 1.8))
            kills_while_sending += sender.poll() is None
            receiver.kill()
            outputs.append(receiver.output())
            time.sleep(chance.uniform(0.0, 0.5))
            receiver = Receiver(store, "--commit-every", "0.3", port=port).start()
        out, err = sender.communicate(timeout=180)
    finally:
        sender.kill()
    assert sender.returncode == 0, err
    assert receiver.stop() == 0, receiver.output()
    outputs.append(receiver.output())
    sent = json.loads(out.strip().splitlines()[-1])

    acked = [tuple(line.split()) for line in acked_file.read_text().splitlines()]
    assert len(acked) == len(set(acked)), "the exporter reported a span acknowledged twice"
    from agentops_kit.store import open_store

    ts = open_store(store)
    steps = ts.steps.select("run_id", "step_id").collect()
    keys = list(zip(steps["run_id"], steps["step_id"], strict=True))
    context = f"seed {seed}; sent {sent}; receiver output:\n" + "\n---\n".join(outputs)
    assert len(keys) == len(set(keys)), "a span is in the store twice: " + context
    missing = set(acked) - set(keys)
    assert not missing, f"{len(missing)} acknowledged span(s) are not in the store: " + context
    # the sending really was interrupted, and most of what was sent got through
    assert kills_while_sending == KILLS, context
    assert len(acked) >= sent["spans"] // 3, context
