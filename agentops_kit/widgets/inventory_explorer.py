"""The inventory explorer: weight sliders that re-rank the inventory and redraw its charts live."""

from __future__ import annotations

import ipywidgets as w

from ..charts import inventory_contributions, inventory_matrix
from ..inventory import (
    FACTORS,
    FactorWeights,
    ScoringWeights,
    read_inventory,
    score_inventory,
    validate,
)
from ..rendering import no_math, table


class InventoryExplorer(w.VBox):
    def __init__(self, inventory):
        frame, file = read_inventory(inventory)
        self.inventory = validate(frame, file).drop("_line")  # checked once; re-scored on every move
        defaults = FactorWeights().model_dump()
        self.sliders = {f: w.FloatSlider(description=f, value=defaults[f], min=0, max=1, step=0.05,
                                         continuous_update=False) for f in FACTORS}
        self.notice = w.HTML()
        self.view = w.Output()
        for slider in self.sliders.values():
            slider.observe(lambda _: self.redraw(), names="value")
        how = no_math(
            "<p><b>How the rank is made:</b> by tier first — <i>automate first</i>, then <i>shadow first</i>, then "
            "<i>not yet</i> — and by score within a tier. A workflow with a hard disqualifier or a caution stays in "
            "its tier whatever its score, so a higher score can rank below a lower one. The weights are relative: "
            "each factor counts its weight divided by the sum of all weights.</p>")
        super().__init__([w.HBox(list(self.sliders.values())[:3]), w.HBox(list(self.sliders.values())[3:]),
                          w.HTML(how), self.notice, self.view])
        self.redraw()

    def all_zero(self) -> bool:
        return sum(s.value for s in self.sliders.values()) <= 0

    def weights(self) -> ScoringWeights:
        """The sliders' weights; when every one is 0 no score can be made, so the defaults are used (and the
        widget says so next to the sliders)."""
        values = {f: s.value for f, s in self.sliders.items()}
        if self.all_zero():
            values = FactorWeights().model_dump()
        return ScoringWeights(weights=FactorWeights(**values))

    def redraw(self) -> None:
        from IPython.display import HTML, display

        if self.all_zero():
            defaults = ", ".join(f"{f} {v:g}" for f, v in FactorWeights().model_dump().items())
            self.notice.value = no_math(
                "<div style='color:#b2182b;border:1px solid #b2182b;padding:6px 10px'><b>Every weight is 0</b>, "
                "so no score can be computed (each factor counts weight ÷ sum of weights). The ranking below uses "
                f"the default weights ({defaults}) until you raise at least one slider.</div>")
        else:
            self.notice.value = ""
        self.scored = score_inventory(self.inventory, weights=self.weights())
        self.view.clear_output(wait=True)
        with self.view:
            display(HTML(table(self.scored.select("rank", "workflow", "tier", "score", "hours_per_week", "reasons"),
                               max_rows=max(self.scored.height, 1), caption="ranking (tier first, then score)",
                               height=520)))
            display(inventory_matrix(self.scored))
            display(inventory_contributions(self.scored))
