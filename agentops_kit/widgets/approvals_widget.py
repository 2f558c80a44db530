"""The approvals widget: the pending queue, one request as a field-level diff, Approve / Reject as the current
user, the history of decided requests and the queue's numbers (both redrawn after every decision)."""

from __future__ import annotations

import ipywidgets as w
import polars as pl

from ..approvals import ApprovalError, ApprovalQueue
from ..rendering import esc, table
from .approvals_views import counted_requests, diff_frame, history_frame, metrics_frame, request_html, summary_html
from .stop_control import stop_controls
from .user import current_user


class ApprovalsWidget(w.VBox):
    """``diff_rows`` / ``claim_rows`` (frames: path, change, before, after), ``history_rows`` and ``metrics_rows``
    hold what the page shows, for code and tests; the HTML children show the same, escaped."""

    def __init__(self, queue: ApprovalQueue, user: str | None = None, traceset=None):
        self.queue, self.user, self.traceset = queue, user or current_user(), traceset
        self.diff_rows = self.claim_rows = diff_frame([])
        self.history_rows = self.metrics_rows = pl.DataFrame()
        self.agent = w.Dropdown(description="agent", options=[("all", None)])
        self.action = w.Dropdown(description="action", options=[("all", None)])
        self.requests = w.Select(description="pending", rows=8, layout=w.Layout(width="100%"))
        self.detail = w.HTML()
        self.reason = w.Text(description="why", placeholder="a note to approve; required to reject",
                             layout=w.Layout(width="60%"))
        self.approve_button = w.Button(description="Approve", button_style="success", icon="check")
        self.reject_button = w.Button(description="Reject", button_style="danger", icon="times")
        self.refresh_button = w.Button(description="Refresh", icon="refresh")
        self.status = w.HTML()
        self.summary = w.HTML()
        self.history = w.HTML()
        self.metrics = w.HTML()
        self.run_links = w.Box()  # with a traceset: each count of the queue's numbers opens its runs
        self._inspector = None
        self.approve_button.on_click(lambda _: self._decide("approve"))
        self.reject_button.on_click(lambda _: self._decide("reject"))
        self.refresh_button.on_click(lambda _: self.refresh())
        for control in (self.agent, self.action):
            control.observe(lambda _: self.refresh(), names="value")
        self.requests.observe(lambda _: self._show(), names="value")
        header = w.HTML(f"<b>Approval queue</b> — acting as <code>{esc(self.user)}</code>")
        super().__init__([header, self.summary, w.HBox([self.agent, self.action, self.refresh_button]), self.requests,
                          self.detail, w.HBox([self.approve_button, self.reject_button, self.reason]), self.status,
                          w.HTML("<h4>History of decided requests</h4>"), self.history,
                          w.HTML("<h4>The queue's numbers</h4>"), self.metrics, self.run_links,
                          *stop_controls(queue, self.user)])
        self.refresh()

    def refresh(self) -> None:
        """Re-read the queue: pending list, filters, the selected request, history and numbers."""
        everything = self.queue.pending()
        self._set_options(self.agent, sorted({r.agent for r in everything}))
        self._set_options(self.action, sorted({r.action for r in everything}))
        items = [r for r in everything if (self.agent.value in (None, r.agent)) and (self.action.value in (None, r.action))]
        keep = self.requests.value
        self.requests.options = [(f"{r.requested_at:%m-%d %H:%M} · {r.agent} · {r.action} · run {r.run_id or '–'}", r.id)
                                 for r in items]
        self.requests.value = keep if keep in [r.id for r in items] else (items[0].id if items else None)
        self._show()
        self._show_numbers()

    @staticmethod
    def _set_options(dropdown, values) -> None:
        current = dropdown.value
        options = [("all", None)] + [(v, v) for v in values]
        if list(dropdown.options) != options:
            dropdown.options = options
            dropdown.value = current if current in values else None

    def _show(self) -> None:
        selected = self.requests.value
        self.approve_button.disabled = self.reject_button.disabled = selected is None
        if selected is None:
            self.diff_rows = self.claim_rows = diff_frame([])
            self.detail.value = "<p><i>Nothing waits for a decision.</i></p>"
            return
        req = self.queue.get(selected)
        self.diff_rows, self.claim_rows = diff_frame(req.diff), diff_frame(req.claimed_diff)
        steps = (self.queue.run_steps(req.id, self.traceset)
                 if self.traceset is not None and req.run_id else None)
        self.detail.value = request_html(req, steps)

    def _show_numbers(self) -> None:
        self.metrics_rows = metrics_frame(self.queue.metrics())  # first: it marks overdue requests expired
        requests = self.queue.requests()
        self.history_rows = history_frame(requests)
        self.summary.value = summary_html(requests)
        self.history.value = table(self.history_rows, max_rows=10_000, height=360,
                                   caption=f"Decided requests ({self.history_rows.height}), latest first")
        self.metrics.value = table(self.metrics_rows, max_rows=10_000, caption="Per action (rates of all requests)")
        if self.traceset is not None:
            from .runs_behind_links import RunsBehindLinks

            links = RunsBehindLinks(counted_requests(requests).all_behind(self.metrics_rows), self.traceset,
                                    inspector=self._inspector)
            links.on_open = self._keep_inspector
            self.run_links.children = (links,)

    def _keep_inspector(self, inspector) -> None:
        self._inspector = inspector  # one inspector across refreshes, made on the first click

    def _decide(self, what: str) -> None:
        request_id = self.requests.value
        if request_id is None:
            self.status.value = "<span style='color:#b2182b'>Select a request first.</span>"
            return
        note = self.reason.value.strip() or None
        try:
            if what == "approve":
                done = self.queue.approve(request_id, approver=self.user, note=note)
            else:
                if note is None:
                    self.status.value = ("<span style='color:#b2182b'><b>Not rejected:</b> a rejection needs a "
                                         "reason — write it in the “why” box.</span>")
                    return
                done = self.queue.reject(request_id, approver=self.user, reason=note)
            self.status.value = (f"<span style='color:#1b7837'><b>{esc(done.status)}</b>: {esc(done.action)} "
                                 f"({esc(done.id)}) by {esc(self.user)}</span>")
            self.reason.value = ""
        except ApprovalError as exc:  # already decided, expired, not allowed: said plainly
            self.status.value = f"<span style='color:#b2182b'><b>Not done:</b> {esc(str(exc))}</span>"
        self.refresh()
