"""The run inspector: find runs (filter, sort, page, paste an id), open one, and click its steps on a waterfall
to see what each was given and returned. The data comes from ``agentops_kit.inspection``; this only lays it out."""

from __future__ import annotations

from contextlib import contextmanager

import ipywidgets as w
import polars as pl

from ..errors import UsageError
from ..inspection.html_views import run_header_html, step_html
from ..inspection.messages import step_messages
from ..inspection.run_search import MIN_ID_PREFIX, SORTABLE, RunQuery, RunSearch, parse_range
from ..inspection.run_tree import failure_cause, waterfall_rows
from ..model import Outcome
from ..rendering import esc, money, no_math, table
from .stop_control import stop_controls
from .user import current_user


class _All:
    """The "all" choice of a filter dropdown. (A value of None would leave the dropdown blank.)"""

    def __repr__(self) -> str:
        return "all"


ALL = _All()
WIDE = {"description_width": "72px"}


def _dropdown(description: str, choices) -> w.Dropdown:
    options = [("all", ALL)] + [c if isinstance(c, tuple) else (str(c), c) for c in choices]
    return w.Dropdown(description=description, options=options, value=ALL, style=WIDE,
                      layout=w.Layout(width="250px"))


def _chosen(dropdown: w.Dropdown):
    return None if dropdown.value is ALL else dropdown.value


def _text(description: str, placeholder: str, width: str = "170px") -> w.Text:
    # continuous_update=False: the value arrives on Enter (or leaving the box), not on every keystroke
    return w.Text(description=description, placeholder=placeholder, continuous_update=False, style=WIDE,
                  layout=w.Layout(width=width))


# ---- the run table --------------------------------------------------------------------------------------------

COLUMNS = (("started (UTC)", 122), ("run id", 272), ("agent", 150), ("workflow", 150), ("outcome", 72),
           ("mode", 54), ("duration", 66), ("cost", 80), ("tokens", 60), ("error", 130))
# the run-table column each header sorts by; a first click sorts numbers and times high to low, names A to Z
SORT_COLUMNS = ("started_at", "run_id", "agent", "workflow", "outcome", "mode", "duration_s", "cost_usd", "tokens",
                "error_type")
FIRST_DESCENDING = {"started_at", "duration_s", "cost_usd", "tokens"}
TABLE_CSS = """<style>
.aok-runrow { display: flex; align-items: center; font-size: 0.88em; border-bottom: 1px solid #eee; }
.aok-runrow > span { padding: 2px 6px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; flex: none; }
.aok-runrow > span.num { text-align: right; font-variant-numeric: tabular-nums; }
.aok-runrow.aok-current { background: #fff3bf; box-shadow: inset 4px 0 0 #f08c00; }
.aok-runrow .aok-id { font-family: monospace; user-select: all; cursor: text; }
</style>"""


def _cells(values) -> str:
    """The row's cells; ``title`` (shown on hover, for clipped cells) holds the plain text, escaped."""
    return "".join(f"<span class='{css}' style='width:{width}px' title=\"{esc(plain)}\">{inner}</span>"
                   for (_, width), (inner, css, plain) in zip(COLUMNS, values, strict=True))


def _row_cells(r: dict) -> list[tuple[str, str, str]]:
    """(inner HTML, css class, plain text) of each cell of one run's row."""
    colour = {"failure": "#b2182b", "escalated": "#d95f02", "success": "#1b7837"}.get(r["outcome"], "#7570b3")
    cost = ("unknown" if r["cost_source"] == "unknown" else "–") if r["cost_usd"] is None else money(r["cost_usd"])
    duration = "–" if r["duration_s"] is None else f"{r['duration_s']:.1f} s"
    tokens = "–" if r["tokens"] is None else f"{r['tokens']:,}"
    plain = [r["started_at"], r["run_id"], r["agent"], r["workflow"], r["outcome"], r["mode"], duration, cost,
             tokens, r["error_type"]]
    inner = [esc(v) for v in plain]
    inner[1] = f"<span class='aok-id'>{esc(r['run_id'])}</span>"
    inner[4] = f"<b style='color:{colour}'>{esc(r['outcome'])}</b>"
    css = ["", "", "", "", "", "", "num", "num", "num", ""]
    return [(i, c, "" if p is None else p) for i, c, p in zip(inner, css, plain, strict=True)]


class RunTable(w.VBox):
    """One page of runs, one row each with an Open button; the run on display is highlighted, and a click
    on an id selects all of it for copying. ``options`` lists the page as (label, run_id) pairs."""

    def __init__(self, on_open, on_sort=None):
        self._on_open = on_open
        self._on_sort = on_sort
        self._rows: list[tuple[w.HBox, w.Button, w.HTML]] = []
        self._page: list[dict] = []
        self.options: list[tuple[str, str]] = []
        self.value: str | None = None
        # a header per column: click to sort by it, click again to turn the order round (as wide as the
        # column's cells, whose 6 px of padding each side come on top of their width)
        self.sort_buttons = {column: w.Button(description=name, tooltip=f"sort by {name}",
                                              layout=w.Layout(width=f"{wd + 12}px", min_width=f"{wd + 12}px",
                                                              height="26px",
                                                              margin="0", padding="0 4px"),
                                              style={"font_weight": "bold"})
                             for column, (name, wd) in zip(SORT_COLUMNS, COLUMNS, strict=True)}
        for column, button in self.sort_buttons.items():
            button.on_click(lambda _, c=column: self.sort_clicked(c))
        self.header = w.HBox([w.HTML(no_math(TABLE_CSS), layout=w.Layout(width="68px", min_width="68px")),
                              *self.sort_buttons.values()], layout=w.Layout(min_width="1260px"))
        super().__init__([self.header], layout=w.Layout(overflow="auto", width="100%"))

    def sort_clicked(self, column: str) -> None:
        if self._on_sort is not None:
            self._on_sort(column)

    def mark_sort(self, column: str, descending: bool) -> None:
        """Name the sorted column in its header, with the order (▼ high to low / Z to A, ▲ the other way)."""
        for (name, _), (c, button) in zip(COLUMNS, self.sort_buttons.items(), strict=True):
            button.description = f"{name} {'▼' if descending else '▲'}" if c == column else name
            button.button_style = "info" if c == column else ""

    def _row(self, i: int):
        while len(self._rows) <= i:  # widgets are made once and reused from page to page
            button = w.Button(description="open", layout=w.Layout(width="68px", min_width="68px", height="26px"))
            cells = w.HTML(layout=w.Layout(flex="0 0 auto"))
            index = len(self._rows)
            button.on_click(lambda _, k=index: self._on_open(self._page[k]["run_id"]))
            self._rows.append((w.HBox([button, cells], layout=w.Layout(min_width="1260px")), button, cells))
        return self._rows[i]

    def fill(self, rows: pl.DataFrame, current: str | None) -> None:
        self._page = rows.to_dicts()
        self.options = [(f"{r['started_at']:%Y-%m-%d %H:%M} · {r['agent']} · {r['outcome']} · {r['run_id']}"
                         if r["started_at"] else f"{r['agent']} · {r['outcome']} · {r['run_id']}", r["run_id"])
                        for r in self._page]
        boxes = []
        for i, _ in enumerate(self._page):
            boxes.append(self._row(i)[0])
        self.mark(current)
        self.children = [self.header, *boxes]

    def mark(self, current: str | None) -> None:
        self.value = current
        for i, r in enumerate(self._page):
            _, button, cells = self._row(i)
            shown = r["run_id"] == current
            cells.value = (f"<div class='aok-runrow{' aok-current' if shown else ''}'>{_cells(_row_cells(r))}</div>")
            button.description, button.button_style = ("shown", "warning") if shown else ("open", "")


# ---- the inspector --------------------------------------------------------------------------------------------

class RunInspector(w.VBox):
    """``RunInspector(ts, policy_result=None)``: filters and a paged run table on top; the run on display
    below it, as a header naming the cause of a failure, a waterfall of its steps (click a bar, or pick a
    step in the list) and the chosen step's messages, arguments, result and attributes."""

    def __init__(self, ts, policy_result=None, page_size: int = 25, approvals=None):  # approvals: the stop button
        self.ts = ts
        self.violations = policy_result.violations if policy_result is not None else None
        self.search = RunSearch(ts, self.violations)
        self.current: str | None = None
        self.current_step: str | None = None
        self.rows: pl.DataFrame | None = None  # the waterfall rows of the run on display
        self._quiet = False
        self._query = RunQuery()
        self._page_number = 1
        opts = self.search.options()

        self.agent = _dropdown("agent", opts.agents)
        self.workflow = _dropdown("workflow", opts.workflows)
        known = [o.value for o in Outcome]
        self.outcome = _dropdown("outcome", [o for o in known if o in opts.outcomes]
                                 + [o for o in opts.outcomes if o not in known])
        self.mode = _dropdown("mode", opts.modes)
        self.tool = _dropdown("tool", [(f"{t} ({n} runs)", t) for t, n in opts.tools])
        self.error_type = _dropdown("error", [(f"{e[:60]} ({n} runs)", e) for e, n in opts.error_types])
        self.started_from = w.DatePicker(description="from", style=WIDE, layout=w.Layout(width="250px"))
        self.started_to = w.DatePicker(description="to", style=WIDE, layout=w.Layout(width="250px"))
        self.cost_from, self.cost_to = _text("cost $", "from"), _text("to $", "to")
        self.duration_from, self.duration_to = _text("seconds", "from"), _text("to", "to")
        self.text = _text("search", "text in inputs, outputs, errors — Enter", "420px")
        self.only_violations = w.Checkbox(description="policy violation", value=False, indent=False,
                                          disabled=self.violations is None,
                                          tooltip="needs a policy result" if self.violations is None else "")
        self.only_impact = w.Checkbox(description="customer impact", value=False, indent=False)
        self.run_id = _text("run id", f"paste an id or its first {MIN_ID_PREFIX}+ characters, then Enter", "520px")
        self.clear_button = w.Button(description="clear filters", icon="times")
        self.message = w.HTML()
        self.counts = w.HTML()
        self.sort_by = w.Dropdown(description="sort by", options=[(label, col) for col, label in SORTABLE.items()],
                                  value="started_at", style=WIDE, layout=w.Layout(width="220px"))
        self.order = w.ToggleButtons(options=[("descending", True), ("ascending", False)], value=True,
                                     style={"button_width": "90px"})
        self.page_size = w.Dropdown(description="per page", options=[10, 25, 50, 100],
                                    value=page_size if page_size in (10, 25, 50, 100) else 25, style=WIDE,
                                    layout=w.Layout(width="160px"))
        self.prev_button = w.Button(description="◀ previous", layout=w.Layout(width="110px"))
        self.next_button = w.Button(description="next ▶", layout=w.Layout(width="110px"))
        self.table = RunTable(self.show, on_sort=self.sort_by_column)
        self.run_set_note = w.HTML()
        self._run_set: tuple[frozenset[str], str] | None = None
        self.picker = self.table  # the name the notebook (and earlier code) uses for the run list

        self.header = w.HTML()
        self.chart = w.Box(layout=w.Layout(width="100%"))
        self.figure = None
        self.steps = w.Select(description="steps", rows=8, style=WIDE, layout=w.Layout(width="100%"))
        self.step_view = w.HTML()
        self.story = w.HTML()

        for control in (self.agent, self.workflow, self.outcome, self.mode, self.tool, self.error_type,
                        self.started_from, self.started_to, self.cost_from, self.cost_to, self.duration_from,
                        self.duration_to, self.text, self.only_violations, self.only_impact, self.sort_by,
                        self.order, self.page_size):
            control.observe(lambda _: self.refresh(), names="value")
        self.run_id.observe(lambda _: self._paste(), names="value")
        self.clear_button.on_click(lambda _: self.clear_filters())
        self.prev_button.on_click(lambda _: self.refresh(self._page_number - 1))
        self.next_button.on_click(lambda _: self.refresh(self._page_number + 1))
        self.steps.observe(lambda change: self.select_step(change["new"]), names="value")

        filters = w.VBox([
            w.HBox([self.agent, self.workflow, self.outcome, self.mode]),
            w.HBox([self.started_from, self.started_to, self.tool, self.error_type]),
            w.HBox([self.cost_from, self.cost_to, self.duration_from, self.duration_to, self.only_violations,
                    self.only_impact]),
            w.HBox([self.text, self.run_id, self.clear_button]),
        ])
        paging = w.HBox([self.sort_by, self.order, self.page_size, self.prev_button, self.next_button])
        super().__init__([filters, self.run_set_note, self.message, self.counts, paging, self.table, self.header, self.chart,
                          self.steps, self.step_view, self.story,
                          *stop_controls(approvals, current_user(), opts.agents)])
        self.refresh()

    # ---- finding runs ------------------------------------------------------------------------------------------
    @contextmanager
    def _batch(self):
        """Change several controls at once without a refresh for each."""
        before, self._quiet = self._quiet, True
        try:
            yield
        finally:
            self._quiet = before

    def _say(self, text: str | None, error: bool = True) -> None:
        colour = "#b2182b" if error else "#555"
        self.message.value = no_math(f"<span style='color:{colour}'>{esc(text)}</span>") if text else ""

    def query(self) -> RunQuery:
        """The query the controls describe; UsageError names a box whose text is not a number."""
        cost_min, cost_max = parse_range(self.cost_from.value, self.cost_to.value, "cost")
        dur_min, dur_max = parse_range(self.duration_from.value, self.duration_to.value, "duration")
        start, end = self.started_from.value, self.started_to.value
        if start and end and start > end:
            raise UsageError(f"dates: 'from' ({start}) is after 'to' ({end})")
        prefix = self.run_id.value.strip() or None
        return RunQuery(agent=_chosen(self.agent), workflow=_chosen(self.workflow), outcome=_chosen(self.outcome),
                        mode=_chosen(self.mode), tool=_chosen(self.tool), error_type=_chosen(self.error_type),
                        started_from=start, started_to=end, cost_min=cost_min, cost_max=cost_max,
                        duration_min=dur_min, duration_max=dur_max, text=self.text.value.strip() or None,
                        id_prefix=prefix if prefix and len(prefix) >= MIN_ID_PREFIX else None,
                        violations_only=self.only_violations.value, impact_only=self.only_impact.value,
                        run_ids=self._run_set[0] if self._run_set else None,
                        run_ids_label=self._run_set[1] if self._run_set else None,
                        sort_by=self.sort_by.value, descending=self.order.value)

    def refresh(self, page: int = 1) -> None:
        """Apply the filters: count, page, highlight; the run on display always matches them."""
        if self._quiet:
            return
        try:
            query = self.query()
        except UsageError as exc:
            self._say(f"{exc} — the table still shows the last valid filter.")
            return
        self._say(None)
        self._query = query
        result = self.search.page(query, page, self.page_size.value)
        self._page_number = result.page
        self.prev_button.disabled = result.page <= 1
        self.next_button.disabled = result.page >= result.pages
        if self.current is not None and not self.search.contains(query, self.current):
            self.current = None  # no longer matches: never keep showing a run the filters exclude
        if self.current is None and result.rows.height:
            self._open(result.rows["run_id"][0])
        elif self.current is None:
            self._clear_run(query)
        counts = esc(result.summary())
        at = (self.search.position(query, self.current)
              if self.current is not None and self.current not in result.rows["run_id"].to_list() else None)
        if at is not None:  # the run on display matches the filters (checked above), on another page
            counts += f" · the run on display is number {at + 1:,}, on page {at // result.size + 1}"
        self.counts.value = no_math(f"<b>{counts}</b>")
        self.table.mark_sort(query.sort_by, query.descending)
        self.table.fill(result.rows, self.current)

    def _reset_controls(self) -> None:
        with self._batch():
            for dropdown in (self.agent, self.workflow, self.outcome, self.mode, self.tool, self.error_type):
                dropdown.value = ALL
            for box in (self.cost_from, self.cost_to, self.duration_from, self.duration_to, self.text, self.run_id):
                box.value = ""
            self.started_from.value = self.started_to.value = None
            self.only_violations.value = self.only_impact.value = False
        self._run_set = None
        self.run_set_note.value = ""

    def sort_by_column(self, column: str) -> None:
        """A click on a column header: sort by it, or, when it is already the sort, turn the order round."""
        with self._batch():
            if self.sort_by.value == column:
                self.order.value = not self.order.value
            else:
                self.sort_by.value = column
                self.order.value = column in FIRST_DESCENDING
        self.refresh()

    def show_runs(self, run_ids, label: str) -> None:
        """Show exactly the runs ``run_ids`` (the runs behind a number, named by ``label``): every other filter
        is cleared, the first of them opens. "clear filters" shows all runs again."""
        ids = frozenset(run_ids)
        self._reset_controls()
        self._run_set = (ids, label)
        self.run_set_note.value = no_math(
            f"<p style='background:#eef6fc;padding:4px 8px'>Showing the <b>{len(ids):,} runs behind</b> "
            f"{esc(label)} — “clear filters” shows every run.</p>")
        self.current = None
        self.refresh()

    def clear_filters(self) -> None:
        self._reset_controls()
        self.refresh()

    def _paste(self) -> None:
        if self._quiet:
            return
        prefix = self.run_id.value.strip()
        if prefix and len(prefix) < MIN_ID_PREFIX:
            self._say(f"run id {prefix!r}: type at least {MIN_ID_PREFIX} characters of an id, then Enter.")
            return
        if not prefix:
            self.refresh()
            return
        everywhere = self.search.ids_starting(prefix)
        if not everywhere:
            self._say(f"No run id starts with {prefix!r} (among all {self.search.total:,} runs).")
            return
        self.refresh()
        hidden = self.search.count(self._query) == 0
        if hidden:
            others = ", ".join(w for w in self._query.changed(id_prefix=None).active()) or "none"
            self._say(f"Run {everywhere[0]} exists, but your other filters hide it ({others}): "
                      "press “clear filters” and paste it again.")
        elif len(everywhere) == 1:
            self.show(everywhere[0])

    # ---- one run -----------------------------------------------------------------------------------------------
    def show(self, run_id: str | None) -> None:
        """Open a run (its id, or its first 8+ characters). If the filters exclude it they are cleared, so
        that the run on display always belongs to the table."""
        if run_id is None:
            return
        run_id = run_id.strip()
        exact = self.ts.runs.filter(pl.col("run_id") == run_id).select(pl.len()).collect().item()
        ids = [run_id] if exact else (self.search.ids_starting(run_id) if len(run_id) >= MIN_ID_PREFIX else [])
        if len(ids) != 1:
            self._say(f"No run with id {run_id!r}." if not ids else
                      f"{len(ids)} runs start with {run_id!r}: paste more of the id.")
            return
        run_id, note = ids[0], None
        if not self.search.contains(self._query, run_id):
            self._reset_controls()
            self._query = self.query()
            note = f"Filters cleared to show run {run_id}."
        self._open(run_id)
        self.refresh(self.search.position(self._query, run_id) // self.page_size.value + 1)
        if note:
            self._say(note, error=False)

    def _clear_run(self, query: RunQuery) -> None:
        self.current = self.current_step = None
        self.rows = None
        why = ", ".join(query.active()) or "no filter"
        self.header.value = no_math(f"<p><i>No run matches the filters ({esc(why)}).</i></p>")
        self._set_figure(None)
        self.steps.options = []
        self.step_view.value = self.story.value = ""

    def _run_steps(self, run_id: str) -> pl.LazyFrame:
        return self.ts.steps.filter(pl.col("run_id") == run_id)

    def _open(self, run_id: str) -> None:
        from ..charts import waterfall

        self.current = run_id
        run = self.ts.runs.filter(pl.col("run_id") == run_id).collect().row(0, named=True)
        self.rows = waterfall_rows(self._run_steps(run_id))
        cause = failure_cause(self.rows)
        self.header.value = run_header_html(run, cause)
        self._set_figure(waterfall(self.rows) if self.rows.height else None)
        labels = []
        for r in self.rows.iter_rows(named=True):
            indent = "\u00a0\u00a0\u00a0" * r["depth"] + ("└ " if r["depth"] else "")
            time = "no time" if r["duration_s"] is None else f"{r['duration_s']:.2f} s"
            labels.append((f"{indent}{r['label']} · {r['kind']} · {time}{'  ✖ ' + (r['error'] or '')[:60] if r['is_error'] else ''}",
                           r["step_id"]))
        with self._batch():
            self.steps.options = labels
        self.story.value = self.render_story(run_id)
        first = cause.step_id if cause is not None else (labels[0][1] if labels else None)
        self.select_step(first)

    def _set_figure(self, fig) -> None:
        import plotly.graph_objects as go

        if self.figure is not None:
            self.figure.close()
            self.figure = None
        if fig is None:
            self.chart.children = ()
            return
        self.figure = go.FigureWidget(fig)
        for trace in self.figure.data:  # type: ignore[attr-defined]
            trace.on_click(self._clicked)
        self.chart.children = (self.figure,)

    def _clicked(self, trace, points, state) -> None:
        if points.point_inds:
            self.select_step(trace.customdata[points.point_inds[0]])

    def select_step(self, step_id: str | None) -> None:
        """Show one step of the run on display: its messages (llm), arguments and result (tools), attributes."""
        if self._quiet or step_id is None or self.rows is None:
            return
        found = self.rows.filter(pl.col("step_id") == step_id)
        if not found.height:
            return
        self.current_step = step_id
        step = found.row(0, named=True)
        with self._batch():
            self.steps.value = step_id
        conversation = step_messages(step) if step["kind"] == "llm" else None
        self.step_view.value = step_html(step, conversation)
        if self.figure is not None:
            with self.figure.batch_update():
                for trace in self.figure.data:
                    trace.marker.opacity = [1.0 if s == step_id else 0.55 for s in trace.customdata]

    # ---- the rest of the story (also the HTML of ``render``) ----------------------------------------------------
    def render_story(self, run_id: str) -> str:
        steps = self._run_steps(run_id).collect()
        root = steps.filter(pl.col("parent_id").is_null())
        saw = root["input"][0] if root.height else None
        sources = self.ts.sources.filter(pl.col("run_id") == run_id).collect()
        labels = self.ts.labels.filter(pl.col("run_id") == run_id).collect()
        calls = (steps.sort("started_at", nulls_last=True)
                 .filter(pl.col("kind").is_in(["tool", "action", "approval", "retrieval"]))
                 .select("kind", "tool_name", "name", "status", "error", pl.col("input").alias("parameters"),
                         pl.col("output").alias("result"), "approval_decision", "approver"))
        cost = (steps.filter(pl.col("cost_source") != "none").group_by("kind", "model")
                .agg(pl.len().alias("steps"), pl.col("cost_usd").sum(), pl.col("cost_source").unique().sort().str.join(", "),
                     (pl.col("cost_source") == "unknown").sum().alias("steps_of_unknown_cost"))
                .sort("kind", "model"))
        broke = (self.violations.filter(pl.col("run_id") == run_id).select("rule", "severity", "detail", "step_id")
                 if self.violations is not None else None)
        saw_html = (f"<pre class='aok-pre' style='white-space:pre-wrap'>{esc(saw[:4000])}</pre>" if saw
                    else "<p><i>not recorded</i></p>")
        return no_math(
            f"<h4>What it saw</h4>{saw_html}"
            f"<h4>Sources it used</h4>{table(sources.drop('run_id'), max_rows=max(sources.height, 1), caption='retrieved documents and versions', height=300)}"
            f"<h4>What it called</h4>{table(calls, max_rows=max(calls.height, 1), caption='tool calls, approvals and retrievals, in order', height=400)}"
            f"<h4>What it cost</h4>{table(cost, caption='by step kind and model')}"
            f"<h4>Policy rules it broke</h4>"
            + (table(broke, max_rows=max(broke.height, 1), caption='violations', height=300) if broke is not None
               else "<p><i>no policy given</i></p>")
            + f"<h4>Labels</h4>{table(labels.drop('run_id'), max_rows=max(labels.height, 1), caption='labels', height=300)}"
        )

    def render(self, run_id: str) -> str:
        """The whole story of one run as escaped HTML: header with the cause of a failure, then the rest."""
        found = self.ts.runs.filter(pl.col("run_id") == run_id).collect()
        if not found.height:
            return no_math(f"<p style='color:#b2182b'>No run with id <code>{esc(run_id)}</code>.</p>")
        rows = waterfall_rows(self._run_steps(run_id))
        return run_header_html(found.row(0, named=True), failure_cause(rows)) + self.render_story(run_id)
