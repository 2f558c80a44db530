"""The papermill kernel client picks up a reply whose wake-up was missed, instead of sleeping until the cell
timeout (the stall once seen after the browser test, reproduced here on a real zmq socket pair)."""

from __future__ import annotations

import asyncio
import time
from queue import Empty

import pytest
import zmq
import zmq.asyncio
from jupyter_client.session import Session

from agentops_kit.report.kernel import (
    SlicedPollChannel,
    SlicedPollKernelClient,
    SlicedPollKernelManager,
)


async def _reply_after_missed_wakeup(timeout: float) -> tuple[dict, float]:
    ctx = zmq.asyncio.Context()
    kernel, client = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
    try:
        port = kernel.bind_to_random_port("tcp://127.0.0.1")
        client.connect(f"tcp://127.0.0.1:{port}")
        session = Session()
        channel = SlicedPollChannel(client, session)
        waiting = asyncio.ensure_future(channel.get_msg(timeout=timeout))
        await asyncio.sleep(0.2)  # the poll is registered and waiting
        session.send(zmq.Socket.shadow(kernel.underlying), "execute_reply", {"status": "ok"})
        time.sleep(0.2)  # the reply is queued on the client socket ...
        zmq.Socket.shadow(client.underlying).get(zmq.EVENTS)  # ... and its edge consumed before the loop sees it
        started = time.monotonic()
        msg = await waiting
        return msg, time.monotonic() - started
    finally:
        kernel.close(0)
        client.close(0)
        ctx.term()


def test_reply_is_received_although_its_wakeup_was_missed():
    msg, waited = asyncio.run(_reply_after_missed_wakeup(timeout=60))
    assert msg["msg_type"] == "execute_reply" and msg["content"] == {"status": "ok"}
    assert waited < 10  # a slice, not the 60 s timeout (the stock channel sleeps the whole timeout here)


def test_poll_still_times_out_when_nothing_arrives():
    async def nothing():
        ctx = zmq.asyncio.Context()
        sock = ctx.socket(zmq.PAIR)
        sock.bind_to_random_port("tcp://127.0.0.1")
        try:
            await SlicedPollChannel(sock, Session()).get_msg(timeout=0.6)
        finally:
            sock.close(0)
            ctx.term()

    with pytest.raises(Empty):  # as jupyter_client's own channel raises, so nbclient's timeout handling runs
        asyncio.run(nothing())


def test_the_manager_gives_clients_with_sliced_poll_channels():
    client_class = SlicedPollKernelManager().client_factory
    assert client_class is SlicedPollKernelClient
    for name in ("shell", "iopub", "stdin", "control"):
        assert client_class.class_traits()[f"{name}_channel_class"].default_value is SlicedPollChannel
