"""Store commits are atomic: an ingest killed (SIGKILL) at any file-system step leaves the store as it was before or
as it is after, and the next ingest finishes the job; concurrent ingests take turns on the lock and say so."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest
from polars.testing import assert_frame_equal

from agentops_kit.store import ingest, open_store
from agentops_kit.store.layout import live_files, read_commit
from agentops_kit.store.lock import store_lock

from .test_store import KEYS, TRACES, split_by_spans, tables

INGEST = """
import sys
from agentops_kit.store import ingest
from agentops_kit.store import commit
ingest(sys.argv[2:], into=sys.argv[1])
print(commit._steps)
"""


KILLER = """
import os, signal, sys
from agentops_kit.store import ingest
export = sys.argv[1]
for point in sys.argv[2:]:
    n, store = point.split("=", 1)
    pid = os.fork()
    if pid == 0:
        os.environ["AGENTOPS_KIT_STORE_KILL_AT"] = n
        ingest(export, into=store)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    print(f"{n}={'killed' if killed else 'exited'}")
"""


def run_ingest(store, *files, kill_at=None, stderr=subprocess.PIPE) -> subprocess.Popen:
    env = {"AGENTOPS_KIT_STORE_KILL_AT": str(kill_at)} if kill_at else {}
    return subprocess.Popen([sys.executable, "-c", INGEST, str(store), *map(str, files)],
                            env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=stderr, text=True)


def same(a: dict, b: dict) -> bool:
    try:
        for table in KEYS:
            assert_frame_equal(a[table], b[table])
    except AssertionError:
        return False
    return True


@pytest.fixture(scope="module")
def halves(tmp_path_factory):
    """Two OTLP files sharing every trace, from every fourth request of the sample (all its weeks)."""
    import gzip

    folder = tmp_path_factory.mktemp("halves")
    small = folder / "small.otlp.jsonl"
    small.write_text("".join(gzip.open(TRACES, "rt").readlines()[::4]))
    return split_by_spans(small, folder)


def test_an_ingest_killed_at_any_step_leaves_the_store_before_or_after(tmp_path, halves):
    first, second = halves
    base = tmp_path / "base"
    ingest(first, into=base)
    before = tables(open_store(base))
    complete = tmp_path / "complete"
    shutil.copytree(base, complete)
    done = run_ingest(complete, second)
    out, err = done.communicate(timeout=60)
    assert done.returncode == 0, err
    total = int(out.split()[-1])
    after = tables(open_store(complete))
    assert not same(before, after)
    # steps spread over the writing of the parts, and each step of publishing the commit: dozens of points
    points = sorted(set(range(1, total + 1, max(1, total // 20))) | set(range(max(1, total - 4), total + 1)))
    assert len(points) >= 24
    stores = {}
    for n in points:
        stores[n] = tmp_path / f"kill-{n}"
        shutil.copytree(base, stores[n])
    # one process imports the kit once, then forks a child per point that ingests with the kill switch set
    killer = subprocess.run([sys.executable, "-c", KILLER, str(second), *(f"{n}={stores[n]}" for n in points)],
                            capture_output=True, text=True, timeout=600)
    assert killer.returncode == 0, killer.stderr
    statuses = dict(line.split("=") for line in killer.stdout.split())
    outcomes = {"before": 0, "after": 0}
    for n, store in stores.items():
        assert statuses[str(n)] == "killed", f"step {n} of {total}: not killed ({statuses[str(n)]})"
        now = tables(open_store(store))
        state = "before" if same(now, before) else "after" if same(now, after) else None
        assert state, f"killed at step {n} of {total}: the store reads as neither before nor after"
        outcomes[state] += 1
        ingest(second, into=store)  # the next ingest completes it (or finds it complete)
        assert same(tables(open_store(store)), after), f"killed at step {n}: the next ingest did not recover"
        on_disk = {p.relative_to(store).as_posix() for p in store.rglob("*.parquet")}
        assert on_disk <= live_files(read_commit(store)) | live_files(read_commit(base)), "leftovers stay"
    assert outcomes["before"] and outcomes["after"]  # kills fell on both sides of the commit


def test_concurrent_ingests_wait_for_the_lock_and_say_so(tmp_path, halves):
    first, second = halves
    store = tmp_path / "store"
    logs = [tmp_path / "a.err", tmp_path / "b.err"]
    with store_lock(store):  # held here: both ingests started below must wait for it
        running = [run_ingest(store, f, stderr=log.open("w")) for f, log in zip((first, second), logs, strict=True)]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all("waiting for lock" in log.read_text() for log in logs):
            time.sleep(0.05)
        assert all(p.poll() is None for p in running)  # still waiting
    for process in running:
        process.communicate(timeout=60)
    errors = [log.read_text() for log in logs]
    assert all(p.returncode == 0 for p in running), errors
    assert all(f"waiting for lock held by pid {os.getpid()}" in err for err in errors)
    one = tmp_path / "one"
    ingest([first, second], into=one)
    assert same(tables(open_store(store)), tables(open_store(one)))
    assert [h["action"] for h in read_commit(store)["history"]] == ["ingest", "ingest"]
