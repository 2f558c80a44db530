"""The approvals page: the widget driven through its Python objects on real SQLite (field-level diff, history and
numbers that follow each decision, disabled buttons, escaping), and `approvals serve` refusing what it must."""

from __future__ import annotations

import subprocess
import sys

import agentops_kit as ak
from agentops_kit.widgets import ApprovalsWidget

from .test_widgets import widget_html

HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(2)>"


def store(tmp_path) -> ak.ApprovalQueue:
    return ak.ApprovalQueue(f"sqlite:///{tmp_path / 'approvals.db'}")


def refund(q, run_id="run-1", amount=99, note=None):
    return q.submit(agent="RefundAgent", action="refund", run_id=run_id, requested_by="svc-refunds",
                    params={"amount": amount, "customer": {"id": "C-1", "tier": "gold"}, **({"memo": note} if note else {})},
                    before={"amount": 10, "customer": {"id": "C-1", "tier": "silver"}},
                    after={"amount": 50, "customer": {"id": "C-1", "tier": "gold"}})


def test_selecting_a_request_shows_one_row_per_changed_field_and_the_claim_apart(tmp_path):
    q = store(tmp_path)
    req = refund(q)
    widget = ApprovalsWidget(q, user="alice")
    assert widget.requests.value == req.id
    assert widget.diff_rows.rows(named=True) == [
        {"path": "amount", "change": "changed", "before": "10", "after": "99"},
        {"path": "customer.tier", "change": "changed", "before": "silver", "after": "gold"}]
    assert widget.claim_rows.rows(named=True) == [
        {"path": "amount", "change": "changed", "before": "10", "after": "50"},
        {"path": "customer.tier", "change": "changed", "before": "silver", "after": "gold"}]
    shown = widget.detail.value
    will_run, claim = shown.split("<b>The agent's claim</b> (its own before → after; not checked against what will run)")
    assert "What will run" in will_run and "<td>customer.tier</td>" in will_run and "<td>99</td>" in will_run
    assert "<td>50</td>" not in will_run and "<td>50</td>" in claim
    assert "The agent's claim disagrees with the parameters" in will_run  # amount: 50 claimed, 99 will run
    # one row per field, never the whole JSON in one cell
    assert '{"amount"' not in shown


def test_buttons_are_disabled_while_nothing_is_selected(tmp_path):
    q = store(tmp_path)
    widget = ApprovalsWidget(q, user="alice")
    assert widget.requests.value is None
    assert widget.approve_button.disabled and widget.reject_button.disabled
    assert "Nothing waits for a decision" in widget.detail.value and widget.diff_rows.height == 0
    refund(q)
    widget.refresh_button.click()
    assert widget.requests.value is not None
    assert not widget.approve_button.disabled and not widget.reject_button.disabled
    widget.approve_button.click()
    assert widget.requests.value is None and widget.approve_button.disabled and widget.reject_button.disabled


def test_each_decision_updates_the_history_and_the_numbers(tmp_path):
    q = store(tmp_path)
    first, second, third = refund(q, "run-1"), refund(q, "run-2", 7), refund(q, "run-3", 8)
    widget = ApprovalsWidget(q, user="alice")
    assert widget.history_rows.height == 0 and "none" in widget.history.value
    before = widget.metrics_rows.row(0, named=True)
    assert (before["requests"], before["pending"], before["approved"], before["time to decision p50"]) == \
        (3, 3, 0, "none decided yet")
    assert "<b>3 pending</b>" in widget.summary.value

    widget.reason.value = "within the refund limit"
    widget.approve_button.click()
    assert q.get(first.id).status == "approved" and q.get(first.id).decided_by == "alice"
    history = widget.history_rows.rows(named=True)
    assert [(h["status"], h["who"], h["why"], h["request"]) for h in history] == \
        [("approved", "alice", "within the refund limit", first.id)]
    numbers = widget.metrics_rows.row(0, named=True)
    assert (numbers["pending"], numbers["approved"], numbers["approved_rate"]) == (2, 1, 1 / 3)
    assert numbers["time to decision p50"].endswith(" s")
    assert "<b>2 pending</b> · 1 approved" in widget.summary.value
    assert "within the refund limit" in widget.history.value and "33.3%" in widget.metrics.value

    # rejecting needs a reason: refused plainly, nothing decided, nothing added to the history
    assert widget.requests.value == second.id
    widget.reason.value = "   "
    widget.reject_button.click()
    assert "a rejection needs a reason" in widget.status.value
    assert q.get(second.id).status == "pending" and widget.history_rows.height == 1
    widget.reason.value = "customer already refunded"
    widget.reject_button.click()
    assert q.get(second.id).status == "rejected" and q.get(second.id).decision_note == "customer already refunded"
    assert [(h["status"], h["who"], h["why"]) for h in widget.history_rows.rows(named=True)][0] == \
        ("rejected", "alice", "customer already refunded")
    numbers = widget.metrics_rows.row(0, named=True)
    assert (numbers["pending"], numbers["approved"], numbers["rejected"]) == (1, 1, 1)

    # someone else decided the last one first: the conflict is said plainly and their decision stands
    q.approve(third.id, "bob", note="done by phone")
    widget.approve_button.click()
    assert "Not done:" in widget.status.value and "already approved by bob" in widget.status.value
    assert q.get(third.id).decided_by == "bob"
    assert [h["who"] for h in widget.history_rows.rows(named=True)] == ["bob", "alice", "alice"]
    assert widget.metrics_rows.row(0, named=True)["pending"] == 0 and q.verify().ok


def test_agent_and_approver_text_is_inert(tmp_path):
    q = store(tmp_path)
    req = q.submit(agent="PayAgent", action="pay", requested_by="svc", run_id="r-1",
                   params={HOSTILE: HOSTILE, "amount": 1}, before={HOSTILE: "old"}, after={"amount": HOSTILE},
                   sources=[{"document_id": HOSTILE, "version": HOSTILE}], uncertainty=HOSTILE)
    refund(q)
    widget = ApprovalsWidget(q, user="alice")
    assert widget.requests.value == req.id
    widget.reason.value = HOSTILE
    widget.approve_button.click()
    page = widget_html(widget)
    widget.requests.value = widget.requests.options[0][1]
    page += widget_html(widget)
    assert q.get(req.id).decision_note == HOSTILE and HOSTILE in widget.history_rows["why"].to_list()
    assert "<script" not in page and "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def agentops(*args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agentops_kit", *args], capture_output=True, text=True, timeout=120,
                          **kwargs)


def test_serve_refuses_a_non_loopback_host_without_a_token_file_and_a_short_token(tmp_path):
    q = store(tmp_path)
    url = q.url
    q.close()
    wide = agentops("approvals", "serve", "--db", url, "--host", "0.0.0.0")
    assert wide.returncode == 2 and wide.stdout == ""
    assert wide.stderr.splitlines() == ["error: --host 0.0.0.0 is not a loopback address: serving the approvals page "
                                        "beyond this machine needs --token-file FILE (a token you hand out on purpose)"]
    short = tmp_path / "token"
    short.write_text("abc\n")
    weak = agentops("approvals", "serve", "--db", url, "--host", "0.0.0.0", "--token-file", str(short))
    assert weak.returncode == 2 and len(weak.stderr.splitlines()) == 1
    assert f"{short}: expected one token of at least 16 characters" in weak.stderr
    missing = agentops("approvals", "serve", "--db", f"sqlite:///{tmp_path / 'none.db'}")
    assert missing.returncode == 2 and missing.stderr.startswith("error: no approvals store at")
    assert not (tmp_path / "none.db").exists()


def test_serve_says_in_one_line_that_its_port_is_taken(tmp_path):
    import socket

    q = store(tmp_path)
    q.close()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = agentops("approvals", "serve", "--db", q.url, "--port", str(port), "--as", "alice")
    assert busy.returncode == 2 and len(busy.stderr.splitlines()) == 1
    assert busy.stderr.startswith(f"error: cannot listen on 127.0.0.1:{port} (") and "choose another --port" in busy.stderr
