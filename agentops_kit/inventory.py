"""Workflow inventory scoring: which processes to hand to agents first, and why.

An inventory (CSV or YAML, see ``templates/inventory.csv``) lists repeated processes with their volume,
human time and 1–5 ratings. ``score_inventory`` ranks them with an explicit weighted score, keeps hard
disqualifiers apart from the score, assigns a tier and says why in words.
"""

from __future__ import annotations

import math
from pathlib import Path

import polars as pl
from pydantic import Field, model_validator

from .config import Strict, load_model, read_yaml
from .errors import ConfigError

TIERS = ("automate first", "shadow first", "not yet")
RATINGS = ("business_impact", "risk_if_wrong", "metric_clarity", "data_quality")
NUMBERS = ("runs_per_week", "human_minutes_per_run", "hourly_cost_usd")
REQUIRED = ("workflow", "runs_per_week", "human_minutes_per_run", *RATINGS, "done_definition", "escalation_path")
OPTIONAL = ("owner", "hourly_cost_usd", "depends_on_judgement", "irreversible_actions")
JUDGEMENT = ("taste", "negotiation", "strategy")
FACTORS = ("volume", "impact", "clarity", "data", "safety")


class FactorWeights(Strict):
    volume: float = Field(0.30, ge=0)
    impact: float = Field(0.20, ge=0)
    clarity: float = Field(0.20, ge=0)
    data: float = Field(0.15, ge=0)
    safety: float = Field(0.15, ge=0)


class ScoringWeights(Strict):
    weights: FactorWeights = FactorWeights()
    hours_cap: float = Field(80.0, gt=0)
    automate_min: float = Field(60.0, ge=0, le=100)
    not_yet_below: float = Field(35.0, ge=0, le=100)

    @model_validator(mode="after")
    def _consistent(self):
        if sum(self.weights.model_dump().values()) <= 0:
            raise ValueError("at least one weight must be above 0")
        if self.not_yet_below > self.automate_min:
            raise ValueError("not_yet_below must not exceed automate_min")
        return self


class InventoryError(ConfigError):
    """Every problem of an inventory file at once; ``problems`` lists them."""

    def __init__(self, file: str, problems: list[str]):
        self.problems = problems
        super().__init__(file, f"{len(problems)} problem(s): " + "; ".join(problems))


def load_weights(weights) -> ScoringWeights:
    if weights is None:
        return ScoringWeights()
    if isinstance(weights, ScoringWeights):
        return weights
    if isinstance(weights, dict):
        factors = {k: v for k, v in weights.items() if k in FACTORS}
        rest = {k: v for k, v in weights.items() if k not in FACTORS}
        if factors:
            rest["weights"] = {**FactorWeights().model_dump(), **factors}
        return ScoringWeights.model_validate(rest)
    return load_model(weights, ScoringWeights)


def read_inventory(source) -> tuple[pl.DataFrame, str]:
    """The inventory as text columns plus ``_line`` (CSV line, or YAML line of the item), and its file name."""
    if isinstance(source, pl.DataFrame):
        return source.with_columns(pl.col(c).cast(pl.String) for c in source.columns).with_row_index(
            "_line", offset=2).with_columns(pl.col("_line").cast(pl.Int64)), "<frame>"
    path = Path(source)
    if not path.is_file():
        raise ConfigError(str(path), "is a folder: expected an inventory CSV or YAML file" if path.is_dir()
                          else "inventory file not found")
    if path.suffix.lower() in (".yaml", ".yml"):
        data, lines = read_yaml(path)
        items = data.get("workflows") if isinstance(data, dict) else data
        if not isinstance(items, list) or not items:
            raise InventoryError(str(path), ["expected a non-empty list under 'workflows:'"])
        rows = [{str(k): (None if v is None else ";".join(map(str, v)) if isinstance(v, list) else str(v))
                 for k, v in item.items()} if isinstance(item, dict) else {} for item in items]
        frame = pl.DataFrame(rows, infer_schema_length=None)
        frame = frame.with_columns(pl.all().cast(pl.String))  # a column of only nulls is text too
        line_of = [lines.get(("workflows", i)) or lines.get((i,)) for i in range(len(items))]
        return frame.with_columns(pl.Series("_line", line_of, dtype=pl.Int64)), str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), f"cannot be read as UTF-8 text: {exc}") from None
    if not text.strip():
        raise InventoryError(str(path), ["the file is empty: expected a header row and one row per workflow"])
    try:
        frame = pl.read_csv(text.encode(), infer_schema=False)
    except Exception as exc:  # polars raises several error types for malformed CSV
        raise ConfigError(str(path), f"cannot be read as CSV: {exc}") from None
    if frame.height == 0:
        raise InventoryError(str(path), ["no workflow rows below the header"])
    return frame.with_row_index("_line", offset=2).with_columns(pl.col("_line").cast(pl.Int64)), str(path)


def validate(frame: pl.DataFrame, file: str) -> pl.DataFrame:
    """Typed inventory, or InventoryError naming every bad row and column."""
    problems = [f"missing required column '{c}'" for c in REQUIRED if c not in frame.columns]
    if problems:
        raise InventoryError(file, problems)
    frame = frame.with_columns(pl.lit(None, pl.String).alias(c) for c in OPTIONAL if c not in frame.columns)
    where = lambda row: f"line {row['_line']}" + (f" (workflow '{row['workflow']}')" if row["workflow"] else "")
    for row in frame.filter(pl.col("workflow").is_null() | (pl.col("workflow").str.strip_chars() == "")).iter_rows(named=True):
        problems.append(f"{where(row)}, column workflow: a workflow name is required")
    dupes = frame.filter(pl.col("workflow").is_not_null() & pl.col("workflow").is_duplicated())
    for row in dupes.iter_rows(named=True):
        problems.append(f"{where(row)}, column workflow: duplicate workflow name '{row['workflow']}'")
    typed = frame.with_columns(
        *[pl.col(c).str.strip_chars().cast(pl.Float64, strict=False).alias(c) for c in NUMBERS],
        *[pl.col(c).str.strip_chars().cast(pl.Float64, strict=False).alias(c) for c in RATINGS],
    )
    for col in (*NUMBERS, *RATINGS):
        raw, num = frame[col], typed[col]
        for i in range(frame.height):
            row = frame.row(i, named=True)
            if raw[i] is None or raw[i].strip() == "":
                if col != "hourly_cost_usd":
                    problems.append(f"{where(row)}, column {col}: a value is required")
            elif num[i] is None:
                problems.append(f"{where(row)}, column {col}: '{raw[i]}' is not a number")
            elif not math.isfinite(num[i]):
                problems.append(f"{where(row)}, column {col}: '{raw[i]}' is not a finite number")
            elif col in RATINGS and not (1 <= num[i] <= 5 and num[i] == int(num[i])):
                problems.append(f"{where(row)}, column {col}: {raw[i]} is out of range (a whole number 1-5)")
            elif col in NUMBERS and num[i] < 0:
                problems.append(f"{where(row)}, column {col}: {raw[i]} must not be negative")
    if problems:
        raise InventoryError(file, problems)
    return typed.with_columns(pl.col(c).cast(pl.Int64) for c in RATINGS)


def _split(col: str) -> pl.Expr:
    return (pl.col(col).fill_null("").str.split(";").list.eval(pl.element().str.strip_chars().str.to_lowercase()
            if col == "depends_on_judgement" else pl.element().str.strip_chars())
            .list.eval(pl.element().filter(pl.element() != "")))


def score_inventory(source, weights=None) -> pl.DataFrame:
    """Rank an inventory (CSV/YAML path or polars frame).

    Factors, each scaled to 0..1: volume = log(1 + hours/week) / log(1 + hours_cap) capped at 1;
    impact = (business_impact - 1) / 4; clarity = (metric_clarity - 1) / 4; data = (data_quality - 1) / 4;
    safety = (5 - risk_if_wrong) / 4. score = 100 × Σ weight × factor / Σ weight; ``contrib_<factor>``
    holds each factor's share of it. Hard disqualifiers (no one-sentence definition of done, dependence on
    taste / negotiation / strategy, no escalation path) make a workflow "not yet" whatever its score;
    high risk, weak metric or data, or a middling score make it "shadow first".

    Example (in a folder made by ``agentops-kit init``)::

        >>> scored = ak.score_inventory("data/inventory.csv", weights={"volume": 0.4})
        >>> scored.select("rank", "workflow", "tier").row(0)
        (1, 'order_status_inquiries', 'automate first')
    """
    w = load_weights(weights)
    frame, file = read_inventory(source)
    inv = validate(frame, file)
    fw = w.weights.model_dump()
    total = sum(fw.values())
    hours = pl.col("runs_per_week") * pl.col("human_minutes_per_run") / 60
    factor = {
        "volume": pl.min_horizontal((hours + 1).log() / math.log(1 + w.hours_cap), pl.lit(1.0)),
        "impact": (pl.col("business_impact") - 1) / 4,
        "clarity": (pl.col("metric_clarity") - 1) / 4,
        "data": (pl.col("data_quality") - 1) / 4,
        "safety": (5 - pl.col("risk_if_wrong")) / 4,
    }
    done = pl.col("done_definition").fill_null("").str.strip_chars()
    sentences = done.str.count_matches(r"[.!?](\s|$)")
    judgement = _split("depends_on_judgement")
    actions = _split("irreversible_actions")
    scored = inv.with_columns(
        hours.alias("hours_per_week"),
        (hours * pl.col("hourly_cost_usd")).alias("human_cost_per_week_usd"),
        *[(100 * fw[f] / total * e).alias(f"contrib_{f}") for f, e in factor.items()],
        judgement.alias("_judgement"), actions.alias("irreversible_actions_list"),
        (done == "").alias("_no_done"), (sentences > 1).alias("_long_done"),
        (pl.col("escalation_path").fill_null("").str.strip_chars() == "").alias("_no_escalation"),
    ).with_columns(pl.sum_horizontal([f"contrib_{f}" for f in FACTORS]).alias("score"))

    bad_judgement = judgement.list.eval(pl.element().filter(pl.element().is_in(JUDGEMENT)))
    disqualifiers = pl.concat_list(
        pl.when(pl.col("_no_done")).then(pl.lit(["no one-sentence definition of done"])).otherwise(pl.lit([], pl.List(pl.String))),
        pl.when(pl.col("_long_done")).then(pl.lit(["definition of done is more than one sentence"])).otherwise(pl.lit([], pl.List(pl.String))),
        bad_judgement.list.eval(pl.lit("depends on ") + pl.element()),
        pl.when(pl.col("_no_escalation")).then(pl.lit(["no escalation path for edge cases"])).otherwise(pl.lit([], pl.List(pl.String))),
    )
    cautions = pl.concat_list(
        pl.when(pl.col("risk_if_wrong") >= 4).then(pl.concat_list(pl.format("high risk if wrong ({}/5): prove it in shadow mode first", "risk_if_wrong"))).otherwise(pl.lit([], pl.List(pl.String))),
        pl.when(pl.col("metric_clarity") <= 2).then(pl.concat_list(pl.format("success metric is unclear ({}/5)", "metric_clarity"))).otherwise(pl.lit([], pl.List(pl.String))),
        pl.when(pl.col("data_quality") <= 2).then(pl.concat_list(pl.format("source-of-truth data is weak ({}/5)", "data_quality"))).otherwise(pl.lit([], pl.List(pl.String))),
    )
    notes = pl.concat_list(
        pl.concat_list(pl.format("{} human hours/week at stake", pl.col("hours_per_week").round(1))),
        pl.when(pl.col("irreversible_actions_list").list.len() > 0)
        .then(pl.concat_list(pl.format("irreversible actions need approval gates: {}", pl.col("irreversible_actions_list").list.join(", "))))
        .otherwise(pl.lit([], pl.List(pl.String))),
    )
    return (
        scored.with_columns(disqualifiers.alias("disqualifiers"), cautions.alias("_cautions"), notes.alias("_notes"))
        .with_columns(
            pl.when(pl.col("disqualifiers").list.len() > 0).then(pl.lit("not yet"))
            .when(pl.col("score") < w.not_yet_below).then(pl.lit("not yet"))
            .when((pl.col("_cautions").list.len() > 0) | (pl.col("score") < w.automate_min)).then(pl.lit("shadow first"))
            .otherwise(pl.lit("automate first")).alias("tier"),
        )
        .with_columns(
            pl.concat_list(
                "disqualifiers",
                pl.when((pl.col("disqualifiers").list.len() == 0) & (pl.col("score") < w.not_yet_below))
                .then(pl.concat_list(pl.format("score {} is below {}", pl.col("score").round(1), pl.lit(w.not_yet_below))))
                .otherwise(pl.lit([], pl.List(pl.String))),
                "_cautions",
                pl.when((pl.col("tier") == "shadow first") & (pl.col("_cautions").list.len() == 0))
                .then(pl.concat_list(pl.format("score {} is below {} for automating directly", pl.col("score").round(1), pl.lit(w.automate_min))))
                .otherwise(pl.lit([], pl.List(pl.String))),
                "_notes",
            ).alias("reasons"),
            pl.col("tier").replace_strict({t: i for i, t in enumerate(TIERS)}, return_dtype=pl.Int8).alias("_tier_rank"),
        )
        .sort(["_tier_rank", "score"], descending=[False, True])
        .with_row_index("rank", offset=1)
        .select(
            "rank", "workflow", "owner", "tier", pl.col("score").round(2), pl.col("hours_per_week").round(2),
            pl.col("human_cost_per_week_usd").round(2), "reasons", "disqualifiers",
            *[pl.col(f"contrib_{f}").round(2) for f in FACTORS],
            "runs_per_week", "human_minutes_per_run", "hourly_cost_usd", *RATINGS,
            "done_definition", "escalation_path", pl.col("_judgement").alias("depends_on_judgement"),
            pl.col("irreversible_actions_list").alias("irreversible_actions"),
        )
    )
