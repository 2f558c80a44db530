"""The receiver's spool: accepted requests on disk, synced, before they are acknowledged.

Each accepted request is one OTLP/JSON line appended to the active segment file. One writer thread takes
whatever requests are waiting, writes them together and syncs once (file, and the folder when it made a new
file) before any of them is answered: a request answered 200 is on disk. ``seal`` closes the active segment
for the committer; a segment is removed only once a store commit holds it.

A kill can leave the active segment with a torn last line (a request never answered): it is cut off when the
spool is opened again. Every other line was synced before its answer was sent.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import itertools
import os
import queue
import threading
import time
from pathlib import Path

from ..errors import UsageError

SUFFIX = ".otlp.jsonl"
LOCK = ".lock"
BATCH = 512  # requests written and synced together at most


def fsync_dir(folder: Path) -> None:
    """Unlike ``tableset.fsync_dir``, a failure is raised: an answer 200 promises the spool file is durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _cut_torn_tail(path: Path) -> int:
    """Cut ``path`` after its last complete line; its size after."""
    with path.open("r+b") as handle:
        data = handle.read()
        keep = data.rfind(b"\n") + 1
        if keep != len(data):
            handle.truncate(keep)
            handle.flush()
            os.fsync(handle.fileno())
        return keep


class Spool:
    """Durable segments of accepted requests in ``folder`` (one receiver at a time holds it)."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._lock_handle = open(self.folder / LOCK, "a+")
        except OSError as exc:
            raise UsageError(f"{self.folder}: cannot use as the receiver's spool ({exc.strerror or exc})") from None
        self._hold_lock()
        self._lock = threading.Lock()  # the active segment: the writer's appends and the committer's seal
        self._fd: int | None = None
        self._active: Path | None = None
        self._active_size = 0
        self._names = itertools.count()
        self._queue: queue.Queue = queue.Queue()
        self._writer: threading.Thread | None = None
        self._torn: set[Path] = set()  # closed after a failed write: cut before the committer reads them
        self.pending_bytes = 0  # on disk, not yet in a store commit
        for path in self.segments():
            size = _cut_torn_tail(path)
            if size == 0:
                path.unlink()
            self.pending_bytes += size
        fsync_dir(self.folder)

    def _hold_lock(self) -> None:
        import fcntl

        try:
            fcntl.flock(self._lock_handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock_handle.seek(0)
            holder = self._lock_handle.read().strip() or "unknown"
            self._lock_handle.close()
            raise UsageError(f"{self.folder}: the spool is in use by another receiver (pid {holder}); give "
                             "each receiver its own --spool") from None
        self._lock_handle.seek(0)
        self._lock_handle.truncate()
        self._lock_handle.write(str(os.getpid()))
        self._lock_handle.flush()

    def segments(self) -> list[Path]:
        """Segments no longer written to, oldest first."""
        return sorted(p for p in self.folder.glob("*" + SUFFIX) if p != self._active)

    def start(self) -> None:
        self._writer = threading.Thread(target=self._run, name="agentops-kit spool writer", daemon=True)
        self._writer.start()

    def submit(self, line: bytes) -> concurrent.futures.Future:
        """Append one request (a line ending in ``\\n``); the future is done once it is synced."""
        future: concurrent.futures.Future = concurrent.futures.Future()
        self._queue.put((line, future))
        return future

    def seal(self) -> list[Path]:
        """Close the active segment (the next request starts a new one); every closed segment."""
        with self._lock:
            self._close_active()
            for path in self._torn:
                _cut_torn_tail(path)
            self._torn.clear()
            return self.segments()

    def remove(self, paths: list[Path]) -> None:
        """Forget segments a store commit holds."""
        for path in paths:
            with contextlib.suppress(FileNotFoundError):
                size = path.stat().st_size
                path.unlink()
                with self._lock:
                    self.pending_bytes -= size
        fsync_dir(self.folder)

    def close(self) -> None:
        """Write what is queued, then stop the writer and close the active segment."""
        if self._writer is not None:
            self._queue.put(None)
            self._writer.join()
            self._writer = None
        with self._lock:
            self._close_active()

    def release(self) -> None:
        """Let another receiver have the spool."""
        self.close()
        self._lock_handle.close()

    def _close_active(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
        self._fd, self._active, self._active_size = None, None, 0

    def _open_active(self) -> None:
        name = f"{time.time_ns():020d}-{os.getpid()}-{next(self._names):06d}{SUFFIX}"
        path = self.folder / name
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        self._active, self._active_size = path, 0
        fsync_dir(self.folder)  # the new file's name is durable before anything in it is acknowledged

    def _run(self) -> None:
        stopping = False
        while not stopping:
            item = self._queue.get()
            if item is None:
                break
            batch = [item]
            while len(batch) < BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            self._write([line for line, _ in batch], [future for _, future in batch])

    def _write(self, lines: list[bytes], futures: list[concurrent.futures.Future]) -> None:
        data = b"".join(lines)
        with self._lock:
            try:
                if self._fd is None:
                    self._open_active()
                assert self._fd is not None
                view = memoryview(data)
                while view:
                    view = view[os.write(self._fd, view):]
                os.fsync(self._fd)
            except OSError as exc:
                self._undo_partial_write()
                for future in futures:
                    future.set_exception(exc)
                return
            self._active_size += len(data)
            self.pending_bytes += len(data)
        for future in futures:
            future.set_result(None)

    def _undo_partial_write(self) -> None:
        """After a failed write (disk full, I/O error): the segment back to its last synced line, or closed."""
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, self._active_size)
            os.fsync(self._fd)
        except OSError:
            if self._active is not None:
                self._torn.add(self._active)
            self._close_active()
