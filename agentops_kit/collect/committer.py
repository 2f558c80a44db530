"""Moving spooled requests into the store: every few seconds, and once more when the receiver stops.

A segment is removed from the spool only after the store commit that holds it is published. A kill between
the two leaves a segment the store already holds; ingesting it again at the next start is a no-op (the store
knows the file by its SHA-256), and a request spooled twice (an exporter retrying after a kill) gives its
spans once (the store keeps one step per run and span id).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from .spool import Spool


class Committer:
    """Commits ``spool`` into the store ``into``, every ``every`` seconds on its own thread."""

    def __init__(self, spool: Spool, into: Path, every: float, say: Callable[[str], None],
                 mapping=None, pricing=None):
        self.spool, self.into, self.every, self.say = spool, into, every, say
        self.mapping, self.pricing = mapping, pricing
        self.commits = 0
        self.failing = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def commit(self) -> None:
        """Seal the active segment and ingest every closed one; raises what the store raises."""
        with self._lock:
            segments = self.spool.seal()
            if not segments:
                return
            from ..store import ingest

            started = time.perf_counter()
            result = ingest([str(p) for p in segments], into=self.into, mapping=self.mapping, pricing=self.pricing,
                            format="otlp", on_wait=self.say)
            self.spool.remove(segments)
            self.commits += 1
            if result.commit is not None:
                self.say(f"commit {result.commit}: {len(segments)} spool segment(s), runs +{result.runs_added} new, "
                         f"{result.runs_updated} updated; steps +{result.steps_added}; duplicate spans dropped "
                         f"{result.duplicate_spans}; rejected {result.rejected} "
                         f"({time.perf_counter() - started:.2f} s)")

    def _run(self) -> None:
        wait = 0.0 if self.spool.segments() else self.every  # what an earlier run left goes in at once
        while not self._stop.wait(wait):
            wait = self.every
            try:
                self.commit()
            except Exception as exc:  # noqa: BLE001  (the receiver keeps receiving; the spool keeps the data)
                self.failing = True
                self.say(f"commit failed, kept in the spool, retrying in {self.every:g} s: {exc}")
            else:
                if self.failing:
                    self.say("commits work again")
                self.failing = False

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="agentops-kit committer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the periodic commits (a commit under way finishes first)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
