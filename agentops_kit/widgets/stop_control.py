"""The stop button (kill switch) for notebooks: agent, reason, Stop — and the stops in force, with Resume for a
second person. It records through ``ApprovalQueue.stop_agent`` / ``resume_agent`` as the user the approvals
widget acts as; the run inspector and the approvals widget show it when given a queue."""

from __future__ import annotations

import ipywidgets as w
import polars as pl

from ..errors import AgentOpsError
from ..rendering import esc, table

COLUMNS = ("agent", "stopped_by", "stopped_at", "reason", "rule", "runs")


class StopControl(w.VBox):
    """``StopControl(queue, user, agents=())``: pick or type an agent, give a reason, Stop. ``stop()``,
    ``resume()`` and ``refresh()`` are what the buttons call; ``status_rows`` (a frame) holds the stops in force
    as shown, ``message`` what the last action said."""

    def __init__(self, queue, user: str, agents=()):
        self.queue, self.user = queue, user
        self.status_rows = pl.DataFrame()
        self.agent = w.Combobox(description="agent", options=sorted({str(a) for a in agents}), ensure_option=False,
                                placeholder="agent to stop or resume", layout=w.Layout(width="320px"))
        self.reason = w.Text(description="reason", placeholder="why it must stop (recorded)",
                             layout=w.Layout(width="420px"))
        self.stop_button = w.Button(description="Stop agent", button_style="danger", icon="stop")
        self.resume_button = w.Button(description="Resume", icon="play",
                                      tooltip="someone other than who stopped it (two-person rule)")
        self.message = w.HTML()
        self.status = w.HTML()
        self.stop_button.on_click(lambda _: self.stop())
        self.resume_button.on_click(lambda _: self.resume())
        header = w.HTML(f"<b>Kill switch</b> — acting as <code>{esc(user)}</code>")
        super().__init__([header, w.HBox([self.agent, self.reason, self.stop_button, self.resume_button]),
                          self.message, self.status])
        self.refresh()

    def _say(self, text: str, ok: bool) -> None:
        colour = "#1b7837" if ok else "#b2182b"
        self.message.value = f"<span style='color:{colour}'>{esc(text)}</span>"

    def _act(self, work) -> None:
        try:
            self._say(work(), ok=True)
        except AgentOpsError as exc:  # not stopped, two-person rule, unreachable store: said plainly
            self._say(f"Not done: {exc}", ok=False)
        self.refresh()

    def stop(self) -> None:
        def work() -> str:
            stop = self.queue.stop_agent(self.agent.value, reason=self.reason.value, actor=self.user)
            if not stop.recorded_now:
                return f"{stop.agent} was already stopped by {stop.stopped_by} at {stop.stopped_at}: {stop.reason}"
            self.reason.value = ""
            return f"Stopped {stop.agent} as {self.user} (audit row {stop.seq})"
        self._act(work)

    def resume(self) -> None:
        def work() -> str:
            stop = self.queue.resume_agent(self.agent.value, actor=self.user, note=self.reason.value.strip() or None)
            return f"Resumed {stop.agent} as {self.user} (stopped by {stop.stopped_by}: {stop.reason})"
        self._act(work)

    def refresh(self) -> None:
        """Re-read the stops in force."""
        try:
            stops = self.queue.agent_stops(active_only=True)
        except AgentOpsError as exc:  # the store cannot tell: shown, never "nothing is stopped"
            self.status_rows = pl.DataFrame()
            self.status.value = f"<span style='color:#b2182b'>Cannot read the stops: {esc(str(exc))}</span>"
            return
        self.status_rows = stops.select(*COLUMNS).with_columns(pl.col("runs").list.join(", "))
        self.status.value = (table(self.status_rows, caption=f"Stopped agents ({stops.height})")
                             if stops.height else "<p><i>No agent is stopped.</i></p>")


def stop_controls(queue, user: str, agents=()) -> list[StopControl]:
    """``[StopControl]`` when there is a queue, else ``[]``: how the other widgets add the button."""
    return [] if queue is None else [StopControl(queue, user, agents)]
