"""A real `agentops-kit collect` in its own process, for the receiver's tests and its benchmark."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

LISTENING = re.compile(r"listening on http://\[?([^\]/]+?)\]?:(\d+)/v1/traces")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Receiver:
    """``agentops-kit collect`` (or ``collect.run`` with other limits, given as ``limits``: keyword arguments of
    ``Limits``), started and waited for; its output is kept in ``lines``."""

    def __init__(self, store: Path, *args: str, port: int = 0, limits: dict | None = None,
                 env: dict | None = None):
        self.store, self.args, self.port, self.limits = Path(store), list(args), port, limits
        self.env = {**os.environ, **(env or {})}
        self.lines: list[str] = []
        self.proc: subprocess.Popen | None = None

    def command(self) -> list[str]:
        if self.limits is None:
            return [sys.executable, "-m", "agentops_kit", "collect", "--into", str(self.store),
                    "--port", str(self.port), *self.args]
        options = dict(zip(self.args[::2], self.args[1::2], strict=True))
        commit_every = float(options.pop("--commit-every", 5))
        assert not options, f"only --commit-every goes with limits, got {options}"
        code = ("import sys; from agentops_kit.collect import Limits, run; "
                f"sys.exit(run({str(self.store)!r}, port={self.port}, commit_every={commit_every}, "
                f"limits=Limits(**{self.limits!r})))")
        return [sys.executable, "-c", code]

    def start(self, timeout: float = 60) -> Receiver:
        self.proc = subprocess.Popen(self.command(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env=self.env)
        ready = threading.Event()

        def pump(stream):
            for line in stream:
                self.lines.append(line.rstrip("\n"))
                match = LISTENING.search(line)
                if match:
                    self.port = int(match[2])
                    ready.set()
            ready.set()

        threading.Thread(target=pump, args=(self.proc.stdout,), daemon=True).start()
        if not ready.wait(timeout) or self.proc.poll() is not None:
            self.kill()
            raise AssertionError("the receiver did not start:\n" + self.output())
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/traces"

    def output(self) -> str:
        return "\n".join(self.lines)

    def kill(self) -> None:
        """SIGKILL: no drain, no last commit."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM and wait: the receiver drains and commits; its exit code."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        time.sleep(0.05)  # the pump thread reads the last lines
        return code

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.kill()
