"""One writer at a time: ingests and housekeeping of one store take turns on ``STORE/.lock``."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from .layout import LOCK, StoreError


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextlib.contextmanager
def store_lock(store: Path, on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the store's lock; when another process holds it, say so (``on_wait``, default: stderr) and wait."""
    try:
        import fcntl
    except ImportError:  # not POSIX: commits are still atomic, concurrent writers are not serialized
        yield
        return
    try:
        store.mkdir(parents=True, exist_ok=True)
        handle = open(store / LOCK, "a+")
    except OSError as exc:
        raise StoreError(store, f"cannot be written ({exc.strerror or exc})") from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            (on_wait or _say)(f"{store}: waiting for lock held by pid {holder} (another ingest or housekeeping "
                              "of this store)")
            fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                handle.truncate(0)
                handle.flush()
