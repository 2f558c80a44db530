"""`agents stop|resume|status`: the kill switch from a shell, recorded in the approvals store's audit log.

Exit codes: 0 done, 1 the store does not match its audit log, 2 bad input (also: a resume by the person who
stopped the agent).
"""

from __future__ import annotations

import click

from .app import main
from .approvals import echo, open_store, store_options


@main.group()
def agents():
    """Stop an agent (the kill switch), resume it (a second person), and list the stops."""


@agents.command("stop")
@store_options
@click.argument("agent")
@click.option("--reason", required=True, help="why it is stopped (recorded in the audit log)")
@click.option("--as", "actor", required=True, help="who stops it")
def agents_stop(db, key_file, agent, reason, actor):
    """Stop AGENT: its guard and @require_approval refuse to act, and its pending requests cannot be approved,
    until a second person resumes it."""
    stop = open_store(db, key_file).stop_agent(agent, reason=reason, actor=actor)
    if stop.recorded_now:
        echo(f"stopped {stop.agent} as {stop.stopped_by} at {stop.stopped_at} (audit row {stop.seq})")
    else:
        echo(f"{stop.agent} was already stopped: {stop}")


@agents.command("resume")
@store_options
@click.argument("agent")
@click.option("--as", "actor", required=True, help="who resumes it: not who stopped it (two-person rule)")
@click.option("--note", default=None, help="what was done about the cause (recorded in the audit log)")
def agents_resume(db, key_file, agent, actor, note):
    """Lift the stop of AGENT. Someone other than who stopped it must do this."""
    stop = open_store(db, key_file).resume_agent(agent, actor=actor, note=note)
    echo(f"resumed {stop.agent} as {stop.resumed_by} at {stop.resumed_at} (stopped by {stop.stopped_by}: "
         f"{stop.reason})")


@agents.command("status")
@store_options
@click.option("--all", "everything", is_flag=True, help="also the stops that were lifted")
def agents_status(db, key_file, everything):
    """Who stopped which agent, when and why (for an automatic stop: the rule and the runs)."""
    from ..approvals.stops import Stop

    frame = open_store(db, key_file).agent_stops(active_only=not everything)
    if frame.is_empty():
        echo("no agent is stopped" if not everything else "no agent was ever stopped")
    for row in frame.iter_rows(named=True):  # a handful of stops, printed one a line
        row.pop("status")
        echo(str(Stop(**row)))
