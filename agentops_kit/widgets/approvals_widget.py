"""The approvals widget: pending queue, one request as a readable diff, Approve / Reject as the current user."""

from __future__ import annotations

import getpass
import html
import os

import ipywidgets as w

from ..approvals import ApprovalError, ApprovalQueue


def current_user() -> str:
    """The person at the keyboard: JupyterHub's user, else the OS user."""
    return os.environ.get("JUPYTERHUB_USER") or os.environ.get("AGENTOPS_USER") or getpass.getuser()


class ApprovalsWidget(w.VBox):
    def __init__(self, queue: ApprovalQueue, user: str | None = None, traceset=None):
        self.queue, self.user, self.traceset = queue, user or current_user(), traceset
        self.agent = w.Dropdown(description="agent", options=[("all", None)])
        self.action = w.Dropdown(description="action", options=[("all", None)])
        self.requests = w.Select(description="pending", rows=8, layout=w.Layout(width="100%"))
        self.detail = w.HTML()
        self.reason = w.Text(description="reason", placeholder="required to reject", layout=w.Layout(width="60%"))
        self.approve_button = w.Button(description="Approve", button_style="success", icon="check")
        self.reject_button = w.Button(description="Reject", button_style="danger", icon="times")
        self.refresh_button = w.Button(description="Refresh", icon="refresh")
        self.status = w.HTML()
        self.approve_button.on_click(lambda _: self._decide("approve"))
        self.reject_button.on_click(lambda _: self._decide("reject"))
        self.refresh_button.on_click(lambda _: self.refresh())
        for control in (self.agent, self.action):
            control.observe(lambda _: self.refresh(), names="value")
        self.requests.observe(lambda _: self._show(), names="value")
        header = w.HTML(f"<b>Approval queue</b> — acting as <code>{html.escape(self.user)}</code>")
        super().__init__([header, w.HBox([self.agent, self.action, self.refresh_button]), self.requests, self.detail,
                          w.HBox([self.approve_button, self.reject_button, self.reason]), self.status])
        self.refresh()

    def refresh(self) -> None:
        everything = self.queue.pending()
        agents = sorted({r.agent for r in everything})
        actions = sorted({r.action for r in everything})
        self._set_options(self.agent, agents)
        self._set_options(self.action, actions)
        items = [r for r in everything if (self.agent.value in (None, r.agent)) and (self.action.value in (None, r.action))]
        keep = self.requests.value
        self.requests.options = [(f"{r.requested_at:%m-%d %H:%M} · {r.agent} · {r.action} · run {r.run_id or '–'}", r.id)
                                 for r in items]
        self.requests.value = keep if keep in [r.id for r in items] else (items[0].id if items else None)
        self._show()

    @staticmethod
    def _set_options(dropdown, values) -> None:
        current = dropdown.value
        options = [("all", None)] + [(v, v) for v in values]
        if list(dropdown.options) != options:
            dropdown.options = options
            dropdown.value = current if current in values else None

    def _show(self) -> None:
        if self.requests.value is None:
            self.detail.value = "<p><i>Nothing waits for a decision.</i></p>"
            return
        req = self.queue.get(self.requests.value)
        extra = ""
        if self.traceset is not None and req.run_id:
            steps = self.queue.run_steps(req.id, self.traceset)
            names = " → ".join(html.escape(n or "") for n in steps["name"].to_list()[:30])
            extra = f"<p><b>The run so far</b> ({steps.height} steps): {names}</p>"
        self.detail.value = req._repr_html_() + extra

    def _decide(self, what: str) -> None:
        request_id = self.requests.value
        if request_id is None:
            self.status.value = "<span style='color:#b2182b'>Select a request first.</span>"
            return
        try:
            if what == "approve":
                done = self.queue.approve(request_id, approver=self.user)
            else:
                done = self.queue.reject(request_id, approver=self.user, reason=self.reason.value)
            self.status.value = (f"<span style='color:#1b7837'><b>{html.escape(done.status)}</b>: "
                                 f"{html.escape(done.action)} ({html.escape(done.id)}) by {html.escape(self.user)}</span>")
            self.reason.value = ""
        except ApprovalError as exc:  # already decided, expired, not allowed, missing reason: said plainly
            self.status.value = f"<span style='color:#b2182b'><b>Not done:</b> {html.escape(str(exc))}</span>"
        self.refresh()
