"""``collect``: the receiver's life. Open the spool (one receiver per spool), listen, commit what an earlier run
left at once and what arrives every few seconds, and on SIGTERM or SIGINT drain: stop listening, let the
requests at work finish, write what is queued, commit, exit. A restarted receiver listens before its first
commit: an exporter retrying through the restart gets through sooner."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path

from ..errors import UsageError
from .committer import Committer
from .limits import Limits
from .server import HARD_LIMIT_FACTOR, PATH, State, application
from .spool import Spool

BODY_TIMEOUT_S = 30.0  # a sender that stalls mid-body loses its connection rather than holding a place
DRAIN_S = 10.0  # how long requests at work may take to finish once the receiver is told to stop


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses; a host name or ``0.0.0.0`` reaches beyond this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def default_spool(into: str | os.PathLike) -> Path:
    """Beside the store (a store folder holds only what the store writes)."""
    store = Path(into)
    return store.with_name(store.name + ".spool")


def run(into: str | os.PathLike, host: str = "127.0.0.1", port: int = 4318, token: str | None = None,
        spool: str | os.PathLike | None = None, commit_every: float = 5.0, limits: Limits | None = None,
        mapping=None, pricing=None, say: Callable[[str], None] | None = None) -> int:
    """Receive until SIGTERM or SIGINT; 0 when everything received is committed, 1 when some is left in the
    spool (committed at the next start). Off loopback, ``token`` (a bearer token) is required."""
    say = say or _say
    limits = limits or Limits()
    if commit_every <= 0:
        raise UsageError(f"--commit-every must be a positive number of seconds, got {commit_every}")
    exposed = not is_loopback(host)
    if exposed and not token:
        raise UsageError(f"--host {host} reaches beyond this machine: give --token-file (a bearer token senders "
                         "must present), or bind a loopback address such as 127.0.0.1")
    from ..store.layout import read_commit, store_path

    store = store_path(into)  # a path or a file:// URL (a URL on object storage: refused in one line)

    read_commit(store, must_exist=False)  # a folder that is no store is refused before anything is received
    from ..mapping import load_mapping
    from ..pricing import load_pricing

    load_mapping(mapping)  # a bad mapping or price list stops here, not at the first commit
    load_pricing(pricing)
    spool_dir = Path(spool) if spool is not None else default_spool(store)
    if spool_dir.resolve().is_relative_to(store.resolve()):
        raise UsageError(f"--spool {spool_dir} is inside the store {store}: a store folder holds only what the "
                         "store writes; give a folder beside it")
    the_spool = Spool(spool_dir)
    committer = Committer(the_spool, store, commit_every, say, mapping=mapping, pricing=pricing)
    try:
        sockets = _listen(host, port)
        if the_spool.segments():  # committed by the committer's first round, while the receiver already listens
            say(f"committing {len(the_spool.segments())} segment(s) left in {the_spool.folder} by an earlier run")
        return asyncio.run(_serve(sockets, the_spool, committer, State(the_spool, limits, token), host, exposed,
                                  say))
    finally:
        the_spool.release()


def _listen(host: str, port: int) -> list[socket.socket]:
    from tornado.netutil import bind_sockets

    try:
        return bind_sockets(port, host)
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


async def _serve(sockets, spool: Spool, committer: Committer, state: State, host: str, exposed: bool,
                 say) -> int:
    from tornado.httpserver import HTTPServer

    logging.getLogger("tornado.access").setLevel(logging.ERROR)  # refused requests are answered, not logged
    server = HTTPServer(application(state), max_body_size=HARD_LIMIT_FACTOR * state.limits.max_request_bytes,
                        idle_connection_timeout=60, body_timeout=BODY_TIMEOUT_S)
    server.add_sockets(sockets)
    spool.start()
    committer.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    port = sockets[0].getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    say(f"listening on http://{shown}:{port}{PATH} (OTLP/HTTP, protobuf or JSON); store {committer.into}, "
        f"spool {spool.folder}, commit every {committer.every:g} s")
    if exposed:
        say(f"exposed beyond this machine on {host}: every request must carry the bearer token")
    await stop.wait()

    say("stopping: no new connections; finishing the requests at work")
    state.stopping = True
    server.stop()
    deadline = time.monotonic() + DRAIN_S
    while state.in_flight and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    await server.close_all_connections()
    committer.stop()
    spool.close()  # what is queued is written (and answered) first
    try:
        committer.commit()
    except Exception as exc:  # noqa: BLE001  (nothing is lost: the spool keeps it for the next start)
        say(f"final commit failed; {len(spool.segments())} segment(s) stay in {spool.folder} for the next start: {exc}")
        return 1
    say(f"stopped: {state.requests} request(s), {state.spans} span(s) received, {state.rejected_spans} rejected; "
        f"requests refused: {state.refusals()}; all committed")
    return 0


def _say(message: str) -> None:
    print(f"collect: {message}", file=sys.stdout, flush=True)
