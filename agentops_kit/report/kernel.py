"""A kernel manager for papermill whose client never sleeps through a message the kernel already sent.

nbclient waits for a cell's ``execute_reply`` with one ``poll`` as long as the whole cell timeout. pyzmq's
asyncio poll is woken by the socket's edge-triggered descriptor, and that wake-up is sometimes missed (seen
here after the JupyterLab browser test, on cells that display widgets: the kernel idle, the reply queued,
the client asleep until the cell timeout; the race of jupyter/nbclient#312). Polling in short slices
bounds the cost of a missed wake-up to one slice: each new poll checks the socket before it waits.
"""

from __future__ import annotations

import time
from queue import Empty
from typing import Any

from jupyter_client.asynchronous.client import AsyncKernelClient
from jupyter_client.channels import AsyncZMQSocketChannel
from jupyter_client.manager import AsyncKernelManager
from traitlets import Type

POLL_SLICE_S = 0.25


class SlicedPollChannel(AsyncZMQSocketChannel):
    async def get_msg(self, timeout: float | None = None) -> dict[str, Any]:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = POLL_SLICE_S if deadline is None else max(0.0, deadline - time.monotonic())
            if await self.socket.poll(int(min(POLL_SLICE_S, left) * 1000)):
                return await self._recv()
            if deadline is not None and time.monotonic() >= deadline:
                raise Empty


class SlicedPollKernelClient(AsyncKernelClient):
    shell_channel_class = Type(SlicedPollChannel)
    iopub_channel_class = Type(SlicedPollChannel)
    stdin_channel_class = Type(SlicedPollChannel)
    control_channel_class = Type(SlicedPollChannel)


class SlicedPollKernelManager(AsyncKernelManager):
    """Pass as ``kernel_manager_class=`` to ``papermill.execute_notebook``."""

    client_factory = Type(SlicedPollKernelClient)
