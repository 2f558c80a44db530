"""WeeklyReview: everything the weekly report shows, computed once from a TraceSet and the config files.

It renders itself (``_repr_html_``: the whole review, with its CSS, in JupyterLab or the papermill report),
and gives its numbers as data (``to_polars``, ``to_dict``), its trend chart (``figure``), a self-contained
offline HTML file (``write_html``, no papermill), a markdown digest and a PNG headline chart.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from ..analytics.cost_breakdown import cost_breakdown
from ..analytics.definitions import PRODUCTION
from ..analytics.error_budget import error_budget
from ..analytics.impact import customer_impact_errors
from ..analytics.latency import latency_by_agent
from ..analytics.metrics import weekly_metrics
from ..analytics.policy_check import SEVERITY_ORDER, check_policy
from ..analytics.readiness import load_readiness, readiness
from ..analytics.rollback import Rollback, describe
from ..errors import UsageError
from ..rendering import TABLE_CSS, esc, figure_html, money, pct, signed, table
from ..results import PAGE_CSS, PAGE_POLICY, Result, records
from ..runs_behind import Counted, RunsBehind, appendix_html, count_link, unique_sets
from ..scope import require_runs
from ..traceset import TraceSet
from ..weeks import iso_week, parse_week, week_bounds
from .inputs import IN_STORE, NOT_RECORDED, InputFile, ReviewInputs
from .markdown import code, md
from .practices import Practices
from .review_counts import review_counted

if TYPE_CHECKING:
    from ..approvals.auto_stop import AutoStops

# The review's own styles; tables bring theirs (TABLE_CSS). Shipped with every rendering, so that a breached
# budget shows red in JupyterLab as in the report.
REVIEW_CSS = """<style>
.agentops-review .agentops-kpis { display: flex; flex-wrap: wrap; gap: 12px; margin: 8px 0 16px; }
.agentops-review .agentops-kpi { border: 1px solid #ddd; border-radius: 8px; padding: 10px 14px; min-width: 170px; }
.agentops-review .agentops-kpi.agentops-breach { border-color: #b2182b; box-shadow: inset 4px 0 0 #b2182b; }
.agentops-review .agentops-kpi .v { font-size: 1.5em; font-weight: 600; }
.agentops-review .agentops-kpi .d { color: #666; font-size: 0.85em; }
.agentops-review .agentops-bad { color: #b2182b; font-weight: 600; }
.agentops-review .agentops-good { color: #1b7837; font-weight: 600; }
.agentops-review .agentops-absent { color: #666; font-style: italic; }
.agentops-review .agentops-rollback { font-size: 0.85em; border-top: 1px dashed #b2182b; margin-top: 4px; }
.agentops-review pre.agentops-summary { font-size: 0.85em; white-space: pre-wrap; }
</style>"""
TREND_METRICS = ("completion_rate", "escalation_rate", "cost_per_successful_run")
PNG_TRIES = 3  # writing the headline PNG: kaleido's first page load can fail under load (write_headline_png)


def check_scope(ts: TraceSet, week: str | None, agents=None) -> None:
    """NothingToShow, naming the weeks and agents the traces hold, unless they have runs of ``agents`` in
    ``week`` (``None``: any week). A week that is not an ISO week is a UsageError."""
    if week is not None:
        parse_week(week)
    require_runs(ts, agents=agents)
    if agents:
        mine = ts.filter_runs(pl.col("agent").is_in(list(agents)))
        require_runs(mine, week=week, what=f"agent{'s' if len(agents) > 1 else ''} {', '.join(agents)}")
    else:
        require_runs(ts, week=week)


def _window_parts(ts: TraceSet, first: dt.datetime, end: dt.datetime) -> list[TraceSet]:
    """The production runs of the trend window ``[first, end)``: a store's week partitions one by one (what is
    grouped by week is computed a week at a time), otherwise the runs of the window at once."""
    if not ts.partitions:
        return [ts.filter_runs((pl.col("started_at") >= first) & (pl.col("started_at") < end) & PRODUCTION)]
    mondays = [first + dt.timedelta(weeks=i) for i in range((end - first) // dt.timedelta(weeks=1))]
    return [ts.week(monday, monday + dt.timedelta(weeks=1)).filter_runs(PRODUCTION) for monday in mondays]


def weeks_read(weeks_back: int, error_budget_file=None, readiness_file=None, gates: bool = False) -> int | None:
    """How many weeks, ending with the week reviewed, a review reads: the trend window (and one week before it,
    for the first week's change), and the longer windows its error budgets, readiness checks (with last week's
    verdicts) and gate evidence (``gates``: policies or an approvals store given) look back over; ``None``
    (every week) for gate evidence over the whole history."""
    from ..analytics.error_budget import load_budgets
    from ..analytics.readiness import load_readiness

    weeks = weeks_back + 1  # and the week before the trend's first: its change from the previous week
    if error_budget_file is not None:
        days = max((b.window_days for b in load_budgets(error_budget_file).budgets), default=0)
        weeks = max(weeks, -(-days // 7) + 1)
    if readiness_file is not None:
        config = load_readiness(readiness_file)
        weeks = max(weeks, config.window_weeks + 2)
        if gates and config.gate_removal is not None:
            if config.gate_removal.window_weeks is None:
                return None
            weeks = max(weeks, config.gate_removal.window_weeks + 1)
    return weeks


def ingested_mapping(store) -> str | None:
    """The mapping file the store's runs were ingested with (readiness reads its escalation tools): the one
    every ingest names, None for the default conventions; UsageError when ingests used different ones."""
    from ..store.objstore import read_store_commit, store_location

    named = {h.get("mapping") for h in read_store_commit(store_location(store))["history"]
             if h.get("action") == "ingest"}
    if len(named) > 1:
        raise UsageError(f"{store}: its ingests used different mappings ({', '.join(sorted(map(str, named)))}): "
                         "runs assembled under different outcome rules cannot be reviewed together")
    mapping = next(iter(named), None)
    return mapping if mapping and Path(mapping).is_file() else None


def check_weeks_back(weeks_back) -> None:
    if isinstance(weeks_back, bool) or not isinstance(weeks_back, int) or weeks_back < 1:
        raise UsageError(f"weeks back {weeks_back!r}: expected a whole number of weeks, 1 or more")


@dataclass(repr=False)
class WeeklyReview(Result):
    """The face of every result (``to_polars``, ``to_dict``, ``_repr_html_``, ``figure``, ``write_html``), for
    the whole review; plus ``digest()`` and the PNG headline chart.

    Example (in a folder made by ``agentops-kit init``)::

        >>> wr = ak.WeeklyReview.from_files("data/sample/traces.otlp.jsonl.gz", week="2026-W47",
        ...                                 mapping="templates/mapping.yaml", labels="data/sample/labels.csv")
        >>> print(wr.digest().splitlines()[0])
        # Weekly agent review — 2026-W47
    """

    ts: TraceSet
    week: str
    inputs: ReviewInputs
    metrics: pl.DataFrame  # agent × week over the trend window
    headline: pl.DataFrame  # agent rows of the week
    budgets: pl.DataFrame | None
    violations: pl.DataFrame | None
    impact: pl.DataFrame
    slowest: pl.DataFrame
    most_expensive: pl.DataFrame
    cost_breakdown: pl.DataFrame  # week × agent × kind × item over the trend window, unknown cost counted
    latency: pl.DataFrame  # run duration quantiles per agent, in the week
    readiness: pl.DataFrame | None
    readiness_changes: pl.DataFrame | None
    rejected: pl.DataFrame
    agents: list[str] | None = None
    summary: dict = field(default_factory=dict)
    practices: Practices | None = None  # quality floors, red team, approval gates, provenance (practices.py)
    rollback: Rollback | None = None  # the readiness file's rollback plans (None: no readiness file given)
    auto_stops: AutoStops | None = None  # what stop_breaching_agents did (None: not asked)

    def __repr__(self) -> str:
        agents = ", ".join(self.headline["agent"].to_list())
        return f"WeeklyReview(week={self.week!r}, agents=[{agents}], trend weeks={self.metrics['week'].n_unique()})"

    # ---- building ----------------------------------------------------------------------------------
    @classmethod
    def from_traceset(cls, ts: TraceSet, week: str | None = None, *, mapping=None, policies=None,
                      readiness_file=None, error_budget_file=None, baselines=None, policy_tests=None,
                      quality_file=None, approvals_db=None, agents=None, weeks_back: int = 8,
                      inputs: ReviewInputs | None = None, engine=None) -> WeeklyReview:
        """The review of ``week`` (default: the last week with runs) over the weeks_back weeks that end with it.

        Each config argument that is ``None`` leaves its part out ("no policy given", ...). ``mapping`` is the
        one the traces were loaded with (readiness reads its escalation tools). ``inputs`` records what the
        traces were loaded from; without it the trace files are taken from ``ts.inputs`` and the mapping,
        pricing and labels of the load are reported as not recorded. ``quality_file`` adds the quality metrics
        with their floors; ``approvals_db`` (a store URL or an ApprovalQueue) is the evidence for removing
        approval gates. Red-team runs stay out of every production number and are scored in their own section.
        Raises NothingToShow (naming the weeks and agents the traces hold) when there is nothing to review.
        ``engine``: where metrics, budgets, policy, readiness and the impact list run (analytics/engine.py).
        """
        from ..analytics.engine import get_engine

        engine = get_engine(engine)  # once: a DuckDB connection or SparkSession shared by every analysis below
        # the streaming engine: over a store, every query below aggregates before collecting, in bounded memory
        with pl.Config(engine_affinity="streaming"):
            return cls._build(ts, week, mapping=mapping, policies=policies, readiness_file=readiness_file,
                              error_budget_file=error_budget_file, baselines=baselines, policy_tests=policy_tests,
                              quality_file=quality_file, approvals_db=approvals_db, agents=agents,
                              weeks_back=weeks_back, inputs=inputs, engine=engine)

    @classmethod
    def _build(cls, ts: TraceSet, week: str | None, *, mapping, policies, readiness_file, error_budget_file,
               baselines, policy_tests, quality_file, approvals_db, agents, weeks_back: int,
               inputs: ReviewInputs | None, engine=None) -> WeeklyReview:
        check_weeks_back(weeks_back)
        agents = list(agents) if agents else None
        check_scope(ts, week, agents)
        if inputs is None:
            inputs = ReviewInputs.of(ts.inputs, mapping=mapping if mapping is not None else NOT_RECORDED,
                                     pricing=NOT_RECORDED, labels=NOT_RECORDED, policies=policies,
                                     error_budget_file=error_budget_file, baselines=baselines,
                                     readiness_file=readiness_file, policy_tests=policy_tests,
                                     quality_file=quality_file, approvals_db=approvals_db)
        if agents:
            ts = ts.filter_runs(pl.col("agent").is_in(agents))
        if week is None:
            week = ts.runs.select(iso_week().max()).collect().item()
        start, end = week_bounds(week)
        metrics = weekly_metrics(ts, by=("agent", "week"), baselines=baselines, quality=quality_file, engine=engine)
        first = start - dt.timedelta(weeks=weeks_back - 1)
        window = [w for w in metrics["week"].unique().to_list() if first <= week_bounds(w)[0] <= start]
        metrics = metrics.filter(pl.col("week").is_in(window)).sort("agent", "week")
        headline = metrics.filter(pl.col("week") == week)
        week_ts = ts.week(start, end).filter_runs(PRODUCTION)
        window_parts = _window_parts(ts, first, end)
        as_of = end - dt.timedelta(microseconds=1)
        budgets = error_budget(ts, error_budget_file, as_of=as_of, engine=engine) if error_budget_file else None
        violations = check_policy(week_ts, policies, as_of=as_of, engine=engine).violations if policies else None
        # only the ten rows each list shows are collected, never the week's runs
        runs = week_ts.runs.select("run_id", "agent", "started_at", "outcome", "duration_s", "cost_usd", "tool_calls")
        ready = changes = None
        if readiness_file:
            kw = dict(policies=policies, baselines=baselines, policy_tests=policy_tests, mapping=mapping,
                      quality=quality_file, engine=engine)
            now = readiness(ts, readiness_file, as_of=as_of, **kw)
            before = readiness(ts, readiness_file, as_of=as_of - dt.timedelta(weeks=1), **kw)
            ready = now.lines
            changes = now.verdicts().join(before.verdicts().select("agent", verdict_last_week="verdict"),
                                          on="agent", how="left").select("agent", "verdict", "verdict_last_week", "open_items")
        return cls(
            ts=ts, week=week, inputs=inputs, metrics=metrics, headline=headline, budgets=budgets,
            violations=violations, impact=customer_impact_errors(week_ts, engine=engine),
            slowest=_top(runs, "duration_s"), most_expensive=_top(runs, "cost_usd"),
            cost_breakdown=pl.concat([cost_breakdown(part) for part in window_parts], how="vertical_relaxed"), latency=latency_by_agent(week_ts), readiness=ready,
            readiness_changes=changes,
            rejected=ts.rejected.collect(), agents=agents, summary=ts.summary(),
            practices=Practices.build(ts, week, policies=policies, quality=quality_file, readiness_file=readiness_file,
                                      approvals=approvals_db, weeks_back=weeks_back, metrics=metrics),
            rollback=load_readiness(readiness_file).rollback if readiness_file else None,
        )

    @classmethod
    def from_store(cls, store, week: str | None = None, *, policies=None, readiness_file=None,
                   error_budget_file=None, baselines=None, policy_tests=None, quality_file=None, approvals_db=None,
                   agents=None, weeks_back: int = 8, engine=None) -> WeeklyReview:
        """The review of ``week`` (default: the last week with runs in the store) read from a trace store: only
        the weeks it shows are scanned — the ``weeks_back`` weeks of its trend window, or the longer windows of
        its error budgets and readiness checks (``weeks_read``). The Inputs section names the store's commit."""
        from ..store import open_store, trend_window
        from ..store.layout import COMMIT
        from ..store.objstore import ObjectStore, store_location

        check_weeks_back(weeks_back)
        week, _ = trend_window(store, week, weeks_back)
        history = weeks_read(weeks_back, error_budget_file, readiness_file,
                             gates=policies is not None or approvals_db is not None)
        ts = open_store(store, weeks=None if history is None else trend_window(store, week, history)[1])
        where = store_location(store)
        inputs = ReviewInputs.of([] if isinstance(where, ObjectStore) else [where / COMMIT], mapping=IN_STORE,
                                 pricing=IN_STORE, labels=IN_STORE, policies=policies,
                                 error_budget_file=error_budget_file, baselines=baselines,
                                 readiness_file=readiness_file, policy_tests=policy_tests,
                                 quality_file=quality_file, approvals_db=approvals_db)
        if isinstance(where, ObjectStore):  # the commit document fingerprinted as it is read, by its URL
            inputs = dataclasses.replace(inputs, traces=(InputFile.of_bytes(where.file(COMMIT), where.read(COMMIT)),))
        return cls.from_traceset(ts, week, mapping=ingested_mapping(store), policies=policies,
                                 readiness_file=readiness_file, error_budget_file=error_budget_file,
                                 baselines=baselines, policy_tests=policy_tests, quality_file=quality_file,
                                 approvals_db=approvals_db, agents=agents, weeks_back=weeks_back, inputs=inputs,
                                 engine=engine)

    @classmethod
    def from_files(cls, traces=None, week: str | None = None, *, mapping=None, pricing=None, labels=None,
                   policies=None, readiness_file=None, error_budget_file=None, baselines=None, policy_tests=None,
                   quality_file=None, approvals_db=None, agents=None, weeks_back: int = 8, format: str | None = None,
                   progress: bool = False, store=None, engine=None, spark_master: str | None = None) -> WeeklyReview:
        """Load ``traces`` (files, folders, globs, or a Parquet folder from ``ingest``) with the mapping, pricing
        and labels given — only those — and review them; the Inputs section lists every file read. ``store``
        instead of ``traces``: a trace store, read as ``from_store`` does (only the trend window's weeks).
        ``engine`` (polars, duckdb, spark) and ``spark_master``: where the analytics run (analytics/engine.py)."""
        from ..analytics.engine import get_engine
        from ..load import load_traces

        engine = get_engine(engine, spark_master=spark_master)

        if (traces is None) == (store is None):
            raise UsageError("give either traces (exports) or store (a trace store), not both or neither")
        if store is not None:
            given = [n for n, v in (("mapping", mapping), ("pricing", pricing), ("labels", labels), ("format", format))
                     if v is not None]
            if given:
                raise UsageError(f"{', '.join(given)}: cannot be used with a store, whose runs were assembled when "
                                 "they were ingested (give them to `agentops-kit ingest --into`)")
            return cls.from_store(store, week, policies=policies, readiness_file=readiness_file,
                                  error_budget_file=error_budget_file, baselines=baselines, policy_tests=policy_tests,
                                  quality_file=quality_file, approvals_db=approvals_db, agents=agents,
                                  weeks_back=weeks_back, engine=engine)

        traces = [traces] if isinstance(traces, (str, Path)) else list(traces)
        labels = [labels] if isinstance(labels, (str, Path)) else labels
        ts = load_traces(traces, mapping=mapping, pricing=pricing, labels=labels, format=format, progress=progress)
        inputs = ReviewInputs.of(ts.inputs, mapping=mapping, pricing=pricing, labels=labels, policies=policies,
                                 error_budget_file=error_budget_file, baselines=baselines,
                                 readiness_file=readiness_file, policy_tests=policy_tests,
                                 quality_file=quality_file, approvals_db=approvals_db)
        return cls.from_traceset(ts, week, mapping=mapping, policies=policies, readiness_file=readiness_file,
                                 error_budget_file=error_budget_file, baselines=baselines, policy_tests=policy_tests,
                                 quality_file=quality_file, approvals_db=approvals_db, agents=agents,
                                 weeks_back=weeks_back, inputs=inputs, engine=engine)

    # ---- breaches: rollback plans and automatic stops -----------------------------------------------
    def agents_in_breach(self) -> list[str]:
        """Agents whose own error budget is breached or that broke a policy this week (the digest's Breaches)."""
        breached = set(self._budget_by_agent_breached())
        if self.violations is not None:
            breached |= set(self.violations["agent"].unique().to_list())
        return sorted(breached)

    def _budget_by_agent_breached(self) -> list[str]:
        return [agent for agent, b in self._budget_by_agent().items() if b["breached"]]

    def _rollback_note(self, agent: str) -> str:
        """The agent's rollback plan, for a line about its breach ('' without a readiness file)."""
        return "" if self.rollback is None else describe(self.rollback, agent)

    def _rollback_suffix(self, agent: str | None) -> str:
        return f" — {md(self._rollback_note(agent))}" if agent is not None and self.rollback is not None else ""

    def stop_breaching_agents(self, approvals, actor: str) -> AutoStops:
        """Stop (kill switch) every agent whose error budget is breached or that has a critical policy
        violation this week: one audit row per agent in the approvals store (``approvals``: a URL or an
        ApprovalQueue), naming the rules and runs. Opt-in; the digest and the page then list the stops."""
        from ..approvals import ApprovalQueue
        from ..approvals.auto_stop import apply_stops, budget_causes, violation_causes

        causes = []
        if self.budgets is not None:
            causes += budget_causes(self.budgets, customer_impact_errors(self.ts))
        if self.violations is not None:
            causes += violation_causes(self.violations, "critical")
        queue = approvals if isinstance(approvals, ApprovalQueue) else ApprovalQueue(str(approvals), create=False)
        self.auto_stops = apply_stops(queue, causes, actor)
        return self.auto_stops

    # ---- data --------------------------------------------------------------------------------------
    def to_polars(self) -> pl.DataFrame:
        """The headline metrics of the week, one row per agent, exactly as ``weekly_metrics`` computes them."""
        return self.headline

    def to_dict(self) -> dict:
        """Everything the review shows, as JSON-ready values (times as ISO 8601 text)."""
        def rows(frame):
            return None if frame is None else records(frame)

        return {
            "title": self.title, "week": self.week, "agents": self.agents, "inputs": self.inputs.to_dict(),
            "headline": rows(self.headline), "trend": rows(self.metrics), "error_budgets": rows(self.budgets),
            "policy_violations": rows(self.violations), "customer_impact_errors": rows(self.impact),
            "slowest_runs": rows(self.slowest), "most_expensive_runs": rows(self.most_expensive),
            "cost_breakdown": rows(self.cost_breakdown), "latency": rows(self.latency), "readiness": rows(self.readiness),
            "readiness_changes": rows(self.readiness_changes), "rejected_records": self.rejected.height,
            "load_summary": json.loads(json.dumps(self.summary, default=str)),
            "practices": None if self.practices is None else self.practices.to_dict(),
            "automatic_stops": None if self.auto_stops is None else self.auto_stops.to_dicts(),
            "rollback_plans": None if self.rollback is None else {a: self._rollback_note(a) for a in self.agents_in_breach()},
        }

    # ---- HTML --------------------------------------------------------------------------------------
    def sections(self, figure=figure_html) -> list[tuple[str, str]]:
        """(heading, HTML) in the order shown; ``figure`` turns a plotly figure into HTML."""
        cost, latency = self.cost_figure(), self.latency_figure()
        return [
            ("Headline numbers per agent",
             "<p>Week-over-week changes are in percentage points. Cost per successful run divides <i>all</i> cost "
             "(failed and escalated runs included) by successful runs, and is unknown when any run's cost is "
             "unknown.</p>" + self.headline_html() + self.section("headline_table")),
            ("Trends", figure(self.figure())),
            ("Customer-impact errors and error budget",
             self.section("error_budget") + self.section("impact_by_agent") + self.section("impact")),
            ("Cost by agent, model and tool",
             "<p>Known cost per week; calls whose cost is unknown (no price for their model) are their own bars and "
             "counts, never left out.</p>" + (figure(cost) if cost is not None else "") + self.section("cost_week")),
            ("How long runs take", figure(latency) + self.section("latency")),
            ("Policy violations", self.section("violations_summary") + self.section("violations")),
            ("Slowest and most expensive runs", self.section("slowest") + self.section("expensive")),
            ("Go / no-go", self.section("readiness_changes") + self.section("readiness")),
            *([] if self.practices is None else self.practices.sections()),
            ("Rejected input records",
             f"<pre class='agentops-summary'>{esc(self.ts.summary_text())}</pre>" + self.section("rejected")
             + self.section("label_problems")),
            ("Inputs", self.inputs_html()),
            ("Runs behind the numbers",
             "<p>Each linked count above opens here as the list of the runs it counts.</p>"
             + appendix_html(self.runs_behind(), self.ts.runs)),
        ]

    @property
    def title(self) -> str:  # type: ignore[override]  # Result's class-level title: here it names the week
        return f"Weekly agent review — {self.week}"

    def html(self, figure=figure_html) -> str:
        """The whole review, with its CSS (the review's and the tables', once)."""
        body = "".join(f"<h2>{esc(title)}</h2>{part}" for title, part in self.sections(figure))
        scope = f" · agents: {esc(', '.join(self.agents))}" if self.agents else ""
        return (f"{REVIEW_CSS}{TABLE_CSS}<div class='agentops-review'>"
                f"<p><b>{esc(self.title)}</b>{scope}</p>{body.replace(TABLE_CSS, '')}</div>")

    def _repr_html_(self) -> str:
        return self.html()

    def page(self) -> str:
        """The self-contained offline page ``write_html`` writes: plotly.js inlined with the first chart."""
        included: list[bool] = []

        def figure(fig) -> str:
            part = fig.to_html(full_html=False, include_plotlyjs=not included, include_mathjax=False,
                               config={"displaylogo": False, "responsive": True})
            included.append(True)
            return part

        return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
                f"<meta http-equiv='Content-Security-Policy' content=\"{PAGE_POLICY}\">"
                "<meta name='viewport' content='width=device-width, initial-scale=1'>"
                f"<title>{esc(self.title)}</title><style>{PAGE_CSS}</style></head>"
                f"<body><h1>{esc(self.title)}</h1>{self.html(figure)}</body></html>\n")

    def headline_html(self) -> str:
        cards = []
        budget = self._budget_by_agent()
        rollback = {a: f"<div class='agentops-rollback'>{esc(self._rollback_note(a))}</div>"
                    for a in self.agents_in_breach() if self.rollback is not None}
        for r in self.headline.iter_rows(named=True):
            b = budget.get(r["agent"])
            budget_text = "no error budget given" if b is None else (
                f"<span class='{'agentops-bad' if b['breached'] else 'agentops-good'}'>{pct(b['consumed'])} of the "
                f"{b['window_days']}-day error budget{' — breached' if b['breached'] else ''}</span>")
            cps = r["cost_per_successful_run"]
            runs, impact, unknown = (count_link(r[c], self.counted["headline"].behind(r, c))
                                     for c in ("runs", "customer_impact_errors", "cost_unknown_runs"))
            breach = " agentops-breach" if b is not None and b["breached"] else ""
            cards.append(
                f"<div class='agentops-kpi{breach}'><div><b>{esc(r['agent'])}</b> — {runs} runs</div>"
                f"<div class='v'>{pct(r['completion_rate'])}</div><div class='d'>completion "
                f"{signed(r.get('completion_rate_wow'))} w/w</div>"
                f"<div>escalation {pct(r['escalation_rate'])} <span class='d'>{signed(r.get('escalation_rate_wow'))}</span></div>"
                f"<div>customer-impact errors {impact} · {budget_text}</div>"
                f"<div>time saved {hours(r['time_saved_hours'])}</div>"
                f"<div>cost / successful run {'unknown' if cps is None else money(cps)}"
                f"{unknown_note(r['cost_unknown_runs'], unknown)}</div>{rollback.get(r['agent'], '')}</div>")
        return f"<h3>Week {esc(self.week)}</h3><div class='agentops-kpis'>{''.join(cards)}</div>{self.stops_html()}"

    def stops_html(self) -> str:
        """The automatic stops of this review ('' when none were asked for)."""
        if self.auto_stops is None:
            return ""
        items = "".join(f"<li>{esc(line)}</li>" for line in self.auto_stops.lines()) or "<li>none: no breach</li>"
        return f"<div class='agentops-bad'>Automatic stops (--stop-on-breach):</div><ul>{items}</ul>"

    def section(self, name: str) -> str:
        frames = {
            "headline_table": (self.headline.select(
                "agent", "runs", "completion_rate", "completion_rate_wow", "escalation_rate", "escalation_rate_wow",
                "customer_impact_errors", "time_saved_hours", "cost_usd", "cost_unknown_runs",
                "cost_per_successful_run", "cost_per_successful_run_wow", "time_saved_formula"),
                "Headline numbers per agent", None),
            "error_budget": (None if self.budgets is None else self.budgets.drop("window_start", "as_of"),
                             f"Error budgets over the window that ends with {self.week}", "no error budget given"),
            "violations": (self.violations, "Policy violations this week", "no policy given"),
            "impact": (self.impact, "Customer-impact errors this week", None),
            "impact_by_agent": (self.counted["impact"].totals() if self.impact.height else None,
                                "Customer-impact errors this week, per agent", None),
            "violations_summary": (None if self.violations is None else self.counted["violations"].totals(),
                                   "Policy violations this week, per agent and rule", "no policy given"),
            "cost_week": (self.cost_breakdown.filter(pl.col("week") == self.week).drop("week"),
                          f"Cost in {self.week} by agent, model and tool (steps of unknown cost counted)", None),
            "latency": (self.latency, f"Run duration in {self.week}, seconds", None),
            "slowest": (self.slowest, "Slowest runs", None),
            "expensive": (self.most_expensive, "Most expensive runs", None),
            "readiness": (None if self.readiness is None else self.readiness.drop("definition"),
                          "Go / no-go checklist", "no readiness checklist given"),
            "readiness_changes": (self.readiness_changes, "Go / no-go against last week", None),
            "rejected": (self.rejected, "Rejected input records", None),
            "label_problems": (self.ts.label_problems, "Label problems (labels naming no run, runs "
                               "labelled both ways, values neither true nor false)", None),
        }
        frame, caption, absent = frames[name]
        if isinstance(frame, pl.LazyFrame):  # collected only for the section asked for
            frame = frame.collect(engine="streaming")
        if frame is None:
            return f"<p class='agentops-absent'>{esc(caption)}: {esc(absent)}</p>" if absent else ""
        source = LINKED.get(name)
        links = self.counted[source].links(frame) if source in self.counted else None
        return table(frame, caption=caption, links=links, max_rows=500, height=420 if frame.height > 12 else None)

    # ---- the runs behind the numbers ---------------------------------------------------------------
    @cached_property
    def counted(self) -> dict[str, Counted]:
        """Where each table of counts comes from (``review_counts.py``): the runs behind any of its cells."""
        return review_counted(self.ts, self.week, self.impact, self.violations, self.budgets)

    def count_tables(self) -> dict[str, pl.DataFrame]:
        """The tables of counts the review shows, by the name of their source in ``counted``."""
        tables = {"headline": self.headline.select("agent", "runs", "customer_impact_errors", "cost_unknown_runs")}
        if self.budgets is not None:
            tables["budgets"] = self.budgets
        if self.impact.height:
            tables["impact"] = self.counted["impact"].totals()
        tables["cost"] = self.cost_breakdown.filter(pl.col("week") == self.week)
        tables["latency"] = self.latency
        if self.violations is not None:
            tables["violations"] = self.counted["violations"].totals()
        return tables

    def runs_behind(self) -> list[RunsBehind]:
        """Every non-zero count the review shows with the runs it counts, once each, in the order shown."""
        return unique_sets(s for name, frame in self.count_tables().items() for s in self.counted[name].all_behind(frame))

    def _described(self) -> list[tuple[str, str]]:
        """The inputs as described, the approvals store with the head of its audit log as this review saw it
        (a later ``approvals verify --checkpoint`` can hold the log to it)."""
        head = None if self.practices is None else self.practices.audit_head
        return [(t, f"{text} — audit log {head}" if t == "approvals store" and head else text)
                for t, text in self.inputs.described()]

    def inputs_html(self) -> str:
        files = pl.DataFrame([{"read as": role, "path": f.path, "bytes": f.bytes, "sha256": f.sha256}
                              for role, f in self.inputs.files()],
                             schema={"read as": pl.String, "path": pl.String, "bytes": pl.Int64, "sha256": pl.String})
        settings = "".join(f"<li><b>{esc(title)}</b>: {esc(text)}</li>" for title, text in self._described())
        return f"<ul>{settings}</ul>" + table(files, max_rows=500, caption="Files read, with their size and SHA-256")

    # ---- figures -----------------------------------------------------------------------------------
    def figure(self):
        """The trend chart: completion, escalation and cost per successful run per agent over the window."""
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots

        fig = make_subplots(rows=1, cols=3, subplot_titles=("completion rate", "escalation rate", "cost per successful run (USD)"))
        for i, agent in enumerate(self.metrics["agent"].unique(maintain_order=True).to_list()):
            part = self.metrics.filter(pl.col("agent") == agent)
            for col, y in enumerate(TREND_METRICS, start=1):
                fig.add_trace(go.Scatter(x=part["week"].to_list(), y=part[y].to_list(), name=agent, legendgroup=agent,
                                         showlegend=col == 1, mode="lines+markers", line={"color": _colour(i)}), row=1, col=col)
        weeks = self.metrics["week"].n_unique()
        title = f"Trends over the last {weeks} weeks" if weeks > 1 else f"{self.week}: the only week with runs in the window"
        fig.update_layout(title=title, template="plotly_white", height=380)
        fig.update_yaxes(tickformat=".0%", row=1, col=1)
        fig.update_yaxes(tickformat=".0%", row=1, col=2)
        return fig

    def cost_figure(self):
        """Cost by agent × model × tool over the weeks of the window, with the calls of unknown cost as their own
        bars; ``None`` when no step of the window incurs cost."""
        from ..charts import cost_by_week

        return cost_by_week(self.cost_breakdown) if self.cost_breakdown.height else None

    def latency_figure(self):
        """Run duration per agent in the week, as boxes."""
        from ..charts import latency_distribution

        return latency_distribution(self.latency)

    def headline_figure(self):
        import plotly.graph_objects as go

        h = self.headline
        fig = go.Figure()
        for col, name in (("completion_rate", "completion"), ("escalation_rate", "escalation"),
                          ("customer_impact_rate", "customer impact")):
            fig.add_trace(go.Bar(x=h["agent"].to_list(), y=h[col].to_list(), name=name,
                                 text=[pct(v) for v in h[col].to_list()], textposition="outside"))
        fig.update_layout(title=f"Agents in {self.week}", barmode="group", template="plotly_white", height=420,
                          width=900, yaxis={"tickformat": ".0%", "range": [0, 1.05]})
        return fig

    # ---- things to send ----------------------------------------------------------------------------
    def digest(self) -> str:
        """Markdown to paste into chat or e-mail. Every name from the traces or the config is escaped."""
        lines = [f"# Weekly agent review — {md(self.week)}", ""]
        budgets = self._budget_by_agent()
        for r in self.headline.iter_rows(named=True):
            cps = r["cost_per_successful_run"]
            b = budgets.get(r["agent"])
            parts = [f"completion {pct(r['completion_rate'])} ({signed(r.get('completion_rate_wow')) or 'n/a'} w/w)",
                     f"escalation {pct(r['escalation_rate'])}",
                     f"customer-impact errors {r['customer_impact_errors']}"
                     + ("" if b is None else f" ({pct(b['consumed'])} of the {b['window_days']}-day budget)"),
                     "time saved " + ("n/a" if r["time_saved_hours"] is None else f"{r['time_saved_hours']:.1f} h"),
                     "cost/success " + ("unknown" if cps is None else money(cps)) + unknown_note(r["cost_unknown_runs"])]
            lines.append(f"- **{md(r['agent'])}** ({r['runs']} runs): " + "; ".join(parts))
        if self.summary.get("priced_by"):
            unpriced = ", ".join(md(m) for m in self.summary.get("unpriced_models", []))
            lines += ["", f"Prices: {md(self.summary['priced_by'])}" + (f"; no price for {unpriced}" if unpriced else "")]
        lines += ["", "## Breaches"]
        breaches, absent = [], []
        if self.budgets is None:
            absent.append("- error budgets: none given")
        else:
            breaches += [f"- error budget breached: {md(r['target'])} ({r['customer_impact_errors']} errors, "
                         f"{r['allowed_errors']:.1f} allowed in {r['window_days']} days)"
                         + self._rollback_suffix(r["target"].removeprefix("agent ") if r["target"].startswith("agent ")
                                                 else None)
                         for r in self.budgets.filter(pl.col("breached")).iter_rows(named=True)]
        if self.violations is None:
            absent.append("- policies: none given")
        elif self.violations.height:
            breaches += [f"- {line}{self._rollback_suffix(agent)}" for agent, line in
                         zip(sorted(self.violations["agent"].unique().to_list()), violation_lines(self.violations), strict=True)]
        lines += (breaches or ["- none"]) + absent
        if self.auto_stops is not None:
            lines += ["", "## Automatic stops (--stop-on-breach)"]
            lines += [f"- {md(line)}" for line in self.auto_stops.lines()] or ["- none: no breach"]
        lines += ["", "## Go / no-go"]
        if self.readiness_changes is None or self.readiness is None:
            lines.append("- readiness: none given")
        else:
            open_checks = self.readiness.filter(pl.col("verdict") != "go").group_by("agent").agg(
                pl.format("{} ({})", "check", "verdict").alias("open"))
            open_by_agent = {r["agent"]: r["open"] for r in open_checks.iter_rows(named=True)}
            for r in self.readiness_changes.iter_rows(named=True):
                change = "" if r["verdict_last_week"] in (None, r["verdict"]) else f" (was {md(r['verdict_last_week'])})"
                still_open = open_by_agent.get(r["agent"])
                why = f" — open: {', '.join(md(x) for x in still_open)}" if still_open else ""
                lines.append(f"- {md(r['agent'])}: {md(r['verdict'])}{change}{why}")
        if self.practices is not None:
            lines += self.practices.digest_lines()
        if self.summary.get("rejected"):
            lines += ["", f"{self.summary['rejected']} input records were rejected; see the report."]
        if self.summary.get("label_problems"):
            lines += ["", "Label problems: " + ", ".join(f"{md(k)} {v}" for k, v in self.summary["label_problems"].items())
                      + "; see the report."]
        lines += ["", "## Inputs"]
        files: dict[str, list] = {}
        for role, f in self.inputs.files():
            files.setdefault(role, []).append(f)
        for title, text in self._described():
            if title == "traces" and title in files:
                lines += [f"- traces: {code(f.path)} ({f.bytes} bytes, sha256 {f.sha256})" for f in files[title]]
            elif title in files:
                lines += [f"- {title}: {code(f.path)} (sha256 {f.sha256})" for f in files[title]]
            else:
                lines.append(f"- {title}: {md(text)}")
        return "\n".join(lines) + "\n"

    def write_digest(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(self.digest(), encoding="utf-8")
        return path

    def write_headline_png(self, path: str | Path) -> Path:
        from kaleido.errors import JavascriptError

        path = Path(path)
        figure = self.headline_figure()
        # kaleido's headless Chromium, started on a busy machine, can run the figure before its page script has
        # loaded ("ReferenceError: kaleido_scopes is not defined"); a fresh try loads the page again
        for attempt in range(1, PNG_TRIES + 1):
            try:
                figure.write_image(path, format="png", scale=1)
                break
            except JavascriptError:
                if attempt == PNG_TRIES:
                    raise
        return path

    def _budget_by_agent(self) -> dict:
        if self.budgets is None:
            return {}
        return {r["target"].removeprefix("agent "): r for r in self.budgets.iter_rows(named=True)
                if r["target"].startswith("agent ")}


# table of the review (section name) -> the source of its counts (``counted``)
LINKED = {"headline_table": "headline", "error_budget": "budgets", "impact_by_agent": "impact",
          "violations_summary": "violations", "cost_week": "cost", "latency": "latency"}


def _top(runs: pl.LazyFrame, by: str, n: int = 10) -> pl.DataFrame:
    """The ``n`` runs highest in ``by`` (unknown values last), ties in the order the runs are listed."""
    return runs.sort(by, descending=True, nulls_last=True, maintain_order=True).head(n).collect()


def violation_lines(violations: pl.DataFrame) -> list[str]:
    """One markdown line per agent: how many policy violations, by severity, most severe first."""
    counts = violations.group_by("agent", "severity").len()
    lines = []
    for agent in sorted(counts["agent"].unique().to_list()):
        mine = dict(counts.filter(pl.col("agent") == agent).select("severity", "len").iter_rows())
        parts = [f"{mine[s]} {s}" for s in SEVERITY_ORDER if s in mine]  # check_policy uses no other severity
        total = sum(mine.values())
        lines.append(f"{md(agent)}: {total} policy violation{'s' if total != 1 else ''} ({', '.join(parts)})")
    return lines


def hours(value) -> str:
    return "–" if value is None else f"{value:.1f} h"


def unknown_note(count: int, shown: str | None = None) -> str:
    """``shown``: the count as the page shows it (a link to its runs); the digest has plain text."""
    return f" ({count if shown is None else shown} runs of unknown cost)" if count else ""


def _colour(i: int) -> str:
    return ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02")[i % 6]
