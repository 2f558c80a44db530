"""From a number to its runs, in a notebook: every count of a result as a button; one click opens the run
inspector below it on exactly the runs behind that count (``runs_behind.RunsBehind``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import ipywidgets as w

from ..rendering import esc, no_math
from ..runs_behind import RunsBehind, unique_sets
from .run_inspector import RunInspector


class RunsBehindLinks(w.VBox):
    """``RunsBehindLinks(sets, ts)``: the sets (``review.runs_behind()``, ``shadow.runs_behind()``, ...) as
    buttons grouped by where the number is shown. ``open_set(i)`` (a click) shows set ``i`` in ``inspector``, made
    on the first click (or given); ``opened`` is the set on display. ``embed=False`` leaves a given inspector
    where the caller shows it (above, in the run inspector notebook) instead of under the buttons."""

    def __init__(self, sets: Iterable[RunsBehind], ts, policy_result=None, inspector: RunInspector | None = None,
                 embed: bool = True):
        self.sets = unique_sets(sets)
        self.ts, self.policy_result = ts, policy_result
        self.inspector = inspector
        self.opened: RunsBehind | None = None
        self.on_open: Callable[[RunInspector], None] | None = None  # called with the inspector after each open (the approvals widget keeps it)
        self.buttons: list[w.Button] = []
        groups: dict[str, list[w.Button]] = {}
        for i, s in enumerate(self.sets):
            button = w.Button(description=f"{s.label}: {s.count:,}", tooltip=f"open the runs behind {s.title}",
                              layout=w.Layout(width="auto", margin="2px"))
            button.on_click(lambda _, k=i: self.open_set(k))
            self.buttons.append(button)
            groups.setdefault(s.section, []).append(button)
        rows: list[w.Widget] = [w.HTML(no_math("<b>Open a number as its runs</b> — a click shows exactly the runs "
                                               "it counts in the run inspector below."))]
        for section, buttons in groups.items():
            rows += [w.HTML(no_math(f"<i>{esc(section)}</i>")),
                     w.Box(buttons, layout=w.Layout(display="flex", flex_flow="row wrap"))]
        if not self.sets:
            rows.append(w.HTML("<p><i>No number here counts any run.</i></p>"))
        self.holder = w.Box(layout=w.Layout(width="100%"))
        if inspector is not None and embed:
            self.holder.children = (inspector,)
        super().__init__([*rows, self.holder])

    def open_set(self, index: int) -> RunInspector:
        """Show the runs behind set ``index`` in the inspector (made now if there is none yet)."""
        chosen = self.sets[index]
        if self.inspector is None:
            self.inspector = RunInspector(self.ts, policy_result=self.policy_result)
            self.holder.children = (self.inspector,)
        self.inspector.show_runs(chosen.run_ids(), chosen.title)
        self.opened = chosen
        for i, button in enumerate(self.buttons):
            button.button_style = "info" if i == index else ""
        if self.on_open is not None:
            self.on_open(self.inspector)
        return self.inspector
