"""What the approvals page shows, as frames and escaped HTML: one request's field-level diff (what will run, and
the agent's claim apart), the history of decided requests, and the queue's numbers. No widgets here."""

from __future__ import annotations

import json

import polars as pl

from ..rendering import esc, no_math, table
from ..runs_behind import Counted

DIFF_COLUMNS = ("path", "change", "before", "after")
HISTORY_STATES = ("approved", "rejected", "expired")


def _text(value) -> str | None:
    """A diff value as the approver reads it: text as it is, anything else as JSON (None: no value on that side)."""
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False, sort_keys=True)


def diff_frame(rows: list[dict]) -> pl.DataFrame:
    """One row per changed field: path, change (set | changed | added | removed), before, after."""
    return pl.DataFrame([{"path": r["path"], "change": r["change"], "before": _text(r["before"]),
                          "after": _text(r["after"])} for r in rows],
                        schema={c: pl.String for c in DIFF_COLUMNS}, orient="row")


def request_html(req, steps: pl.DataFrame | None = None) -> str:
    """One request for the approver: who asked, what will run (from the parameters), the agent's claim (labelled,
    never trusted), where the two disagree, sources, uncertainty and the run so far. Everything escaped."""
    audit = (f"<p style='color:#b2182b'><b>Audit mismatch — do not approve:</b> {esc(req.audit_problem)}</p>"
             if req.audit_problem else "")
    against = ", against the before state the agent gave" if req.before is not None else ""
    will_run = (f"<p><b>What will run</b> (computed from the parameters{against}):</p>"
                + table(diff_frame(req.diff), max_rows=10_000, height=320))
    claim = ("<p><b>The agent's claim</b> (its own before → after; not checked against what will run):"
             + ("</p>" + table(diff_frame(req.claimed_diff), max_rows=10_000, height=320) if req.claimed_diff
                else " none given</p>"))
    conflicts = "".join(f"<li><code>{esc(c['path'])}</code>: the agent says {esc(_text(c['claimed']))}, the "
                        f"parameters say {esc(_text(c['params']))}</li>" for c in req.claim_conflicts)
    conflicts = (f"<p style='color:#b2182b'><b>The agent's claim disagrees with the parameters:</b></p>"
                 f"<ul>{conflicts}</ul>") if conflicts else ""
    sources = ", ".join(f"{esc(s.get('document_id', '?'))} @ {esc(s.get('version', 'no version'))}"
                        for s in req.sources if isinstance(s, dict)) or "none"
    run = ""
    if steps is not None:
        names = " → ".join(esc(n or "") for n in steps["name"].to_list()[:30])
        more = f" … and {steps.height - 30} more" if steps.height > 30 else ""
        run = f"<p><b>The run so far</b> ({steps.height} steps): {names}{more}</p>"
    return no_math(
        f"<div class='agentops-approval'><h4>{esc(req.action)} — {esc(req.status)}</h4>{audit}"
        f"<p>agent <b>{esc(req.agent)}</b>, run <code>{esc(req.run_id or '–')}</code>, request <code>{esc(req.id)}"
        f"</code>, requested by {esc(req.requested_by)} at {req.requested_at:%Y-%m-%d %H:%M} UTC, expires "
        f"{req.expires_at:%Y-%m-%d %H:%M} UTC</p>{will_run}{conflicts}{claim}"
        f"<p><b>Sources:</b> {sources}</p><p><b>Uncertainty:</b> {esc(req.uncertainty or 'none stated')}</p>"
        f"{run}</div>")


def history_frame(requests: pl.DataFrame) -> pl.DataFrame:
    """Requests no longer pending, latest first: when, status, who decided, their note (why), action, agent, id.
    An expired request was decided by nobody: its time is its expiry."""
    return (requests.lazy().filter(pl.col("status").is_in(HISTORY_STATES))
            .select(pl.coalesce("decided_at", "expires_at").dt.strftime("%Y-%m-%d %H:%M:%S UTC").alias("when"),
                    "status",
                    pl.when(pl.col("status") == "expired").then(pl.lit("nobody (expired)"))
                    .otherwise(pl.col("decided_by")).alias("who"),
                    pl.col("decision_note").fill_null("").alias("why"),
                    "action", "agent", pl.col("id").alias("request"),
                    pl.coalesce("decided_at", "expires_at").alias("_at"))
            .sort("_at", descending=True).drop("_at").collect())


def _duration(column: str) -> pl.Expr:
    seconds = pl.col(column)
    return (pl.when(seconds.is_null()).then(pl.lit("none decided yet"))
            .when(seconds < 120).then(seconds.round(0).cast(pl.Int64).cast(pl.String) + " s")
            .when(seconds < 7200).then((seconds / 60).round(1).cast(pl.String) + " min")
            .otherwise((seconds / 3600).round(1).cast(pl.String) + " h"))


def metrics_frame(metrics: pl.DataFrame) -> pl.DataFrame:
    """The queue's own metrics per action (``ApprovalQueue.metrics``), with times to decision made readable."""
    return metrics.select(
        "action", "requests", "pending", "approved", "rejected", "expired",
        "approved_rate", "rejected_rate", "expired_rate",
        _duration("p50_time_to_decision_s").alias("time to decision p50"),
        _duration("p95_time_to_decision_s").alias("time to decision p95"))


def counted_requests(requests: pl.DataFrame) -> Counted:
    """The requests behind each count of ``metrics_frame`` (per action), with the runs that made them."""
    status = pl.col("status")
    return Counted("Approval queue, per action", requests.lazy(), ("action",),
                   {"requests": None, **{s: status == s for s in ("pending", *HISTORY_STATES)}})


def summary_html(requests: pl.DataFrame) -> str:
    """The headline: queue size and how many were decided each way."""
    counts = requests.select(*[(pl.col("status") == s).sum().alias(s)
                               for s in ("pending", *HISTORY_STATES)]).row(0, named=True)
    return (f"<p><b>{counts['pending']} pending</b> · {counts['approved']} approved · {counts['rejected']} rejected"
            f" · {counts['expired']} expired</p>")
