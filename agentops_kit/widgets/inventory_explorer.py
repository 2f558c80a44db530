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
from ..rendering import table


class InventoryExplorer(w.VBox):
    def __init__(self, inventory):
        frame, file = read_inventory(inventory)
        self.inventory = validate(frame, file).drop("_line")  # checked once; re-scored on every move
        defaults = FactorWeights().model_dump()
        self.sliders = {f: w.FloatSlider(description=f, value=defaults[f], min=0, max=1, step=0.05,
                                         continuous_update=False) for f in FACTORS}
        self.view = w.Output()
        for slider in self.sliders.values():
            slider.observe(lambda _: self.redraw(), names="value")
        super().__init__([w.HBox(list(self.sliders.values())[:3]), w.HBox(list(self.sliders.values())[3:]), self.view])
        self.redraw()

    def weights(self) -> ScoringWeights:
        values = {f: s.value for f, s in self.sliders.items()}
        if sum(values.values()) <= 0:
            values = FactorWeights().model_dump()
        return ScoringWeights(weights=FactorWeights(**values))

    def redraw(self) -> None:
        from IPython.display import HTML, display

        self.scored = score_inventory(self.inventory, weights=self.weights())
        self.view.clear_output(wait=True)
        with self.view:
            display(HTML(table(self.scored.select("rank", "workflow", "tier", "score", "hours_per_week", "reasons"),
                               caption="ranking")))
            display(inventory_matrix(self.scored))
            display(inventory_contributions(self.scored))
