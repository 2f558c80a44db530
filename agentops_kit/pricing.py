"""Prices that turn tokens (and priced tool calls) into USD when an export reports no cost itself.

``pricing.yaml`` (see ``templates/pricing.yaml``) lists, per model family, dated prices in USD per
million tokens; without one, the dated list in ``agentops_kit/data/pricing/`` prices the calls. A model
name resolves to its family through ``aliases``, then by dropping a provider prefix (``openai/gpt-4o``)
and a date suffix (``gpt-4o-2024-08-06``, ``gpt-4-0613``).
"""

from __future__ import annotations

import datetime as dt
import os
import re
from functools import lru_cache
from pathlib import Path

import polars as pl
from pydantic import Field, field_validator, model_validator

from .config import Conflict, Strict, load_model

DATE_SUFFIX = re.compile(r"(-|@)(\d{4}-\d{2}-\d{2}|\d{8}|\d{4})$")


NO_SINCE = dt.date(2000, 1, 1)


class Price(Strict):
    since: dt.date = NO_SINCE
    input: float = Field(ge=0, description="USD per million input tokens (cache reads included)")
    output: float = Field(ge=0, description="USD per million output tokens")
    cached_input: float | None = Field(default=None, ge=0, description="USD per million cache-read tokens")
    cache_write: float | None = Field(default=None, ge=0, description="USD per million tokens written to the "
                                      "provider's cache (when absent: the input rate)")


class ToolPrice(Strict):
    per_call: float = Field(ge=0)


class Pricing(Strict):
    currency: str = "USD"
    models: dict[str, list[Price]] = Field(default_factory=dict)
    aliases: dict[str, str] = Field(default_factory=dict)
    tools: dict[str, ToolPrice] = Field(default_factory=dict)

    @field_validator("currency")
    @classmethod
    def _usd(cls, value: str) -> str:
        if value.upper() != "USD":
            raise ValueError("only USD prices are supported")
        return "USD"

    @model_validator(mode="after")
    def _one_price_per_day(self):
        for family, prices in self.models.items():
            first: dict[dt.date, int] = {}
            for i, price in enumerate(prices):
                if price.since in first:
                    default = " (the date used when 'since' is not given)" if price.since == NO_SINCE else ""
                    raise Conflict(f"model '{family}' has two prices from {price.since}{default} (entries "
                                   f"{first[price.since] + 1} and {i + 1}): which one applies is unclear",
                                   ("models", family, first[price.since]), ("models", family, i))
                first[price.since] = i
        return self

    @model_validator(mode="after")
    def _aliases_resolve(self):
        for alias, family in self.aliases.items():
            if family not in self.models:
                raise ValueError(f"alias '{alias}' points to '{family}', which has no prices under 'models'")
        return self

    def family(self, model: str | None) -> str | None:
        """The priced family of a model name, or None when it has no price."""
        if not model:
            return None
        candidates = [model, model.lower()]
        bare = model.split("/", 1)[1] if "/" in model else model
        candidates += [bare, bare.lower()]
        for name in list(candidates):
            stripped = DATE_SUFFIX.sub("", name)
            if stripped != name:
                candidates.append(stripped)
        for name in candidates:
            if name in self.aliases:
                return self.aliases[name]
            if name in self.models:
                return name
        return None

    def price_table(self) -> pl.DataFrame:
        rows = [(fam, p.since, p.input, p.output, p.input if p.cached_input is None else p.cached_input,
                 p.input if p.cache_write is None else p.cache_write)
                for fam, prices in self.models.items() for p in prices]
        return pl.DataFrame(
            rows, orient="row",
            schema={"family": pl.String, "since": pl.Date, "p_in": pl.Float64, "p_out": pl.Float64,
                    "p_cached": pl.Float64, "p_write": pl.Float64},
        ).sort("since")


def load_pricing(pricing: str | os.PathLike[str] | Pricing | None) -> Pricing:
    """A pricing.yaml file, a ``Pricing`` as it is, or — for None — the bundled list (``bundled_pricing``)."""
    if pricing is None:
        return bundled_pricing()
    if isinstance(pricing, Pricing):
        return pricing
    return load_model(pricing, Pricing)


@lru_cache(maxsize=1)
def bundled_pricing() -> Pricing:
    """The dated list of public list prices that ships with the kit (``agentops_kit/data/pricing/``)."""
    return load_model(bundled_pricing_path(), Pricing)


def bundled_pricing_path() -> Path:
    from .resources import pricing_dir

    lists = sorted(pricing_dir().glob("bundled-*.yaml"))  # ISO dates in the names: the last is the newest
    return lists[-1]


def bundled_pricing_date() -> str:
    return bundled_pricing_path().stem.removeprefix("bundled-")


def pricing_source(pricing: str | os.PathLike[str] | Pricing | None) -> str:
    """Which price list ``load_pricing(pricing)`` gives, in words, for summaries and reports."""
    if pricing is None:
        return f"bundled list of {bundled_pricing_date()}; pass --pricing to use yours"
    if isinstance(pricing, Pricing):
        return "a Pricing object given in code"
    return str(pricing)


def apply_pricing(steps: pl.DataFrame, pricing: Pricing) -> pl.DataFrame:
    """Fill ``cost_usd`` / ``cost_source`` of every step.

    export: the export reported a cost (it wins); pricing: tokens x price, or a priced tool call;
    unknown: an LLM call whose cost cannot be known (unpriced model or no tokens); none: a step that
    costs nothing by itself (agent, chain, unpriced tool).
    """
    models = steps.lazy().select(pl.col("model").drop_nulls().unique()).collect().get_column("model").to_list()
    family = pl.col("model").replace_strict({m: pricing.family(m) for m in models}, default=None,
                                            return_dtype=pl.String)
    # the price in force on the day of the call (the latest one when the call has no time), looked up once
    # per distinct (family, day); only those two narrow columns travel through the joins
    keys = steps.lazy().select(
        family.alias("family"), pl.col("started_at").dt.date().fill_null(dt.date(9999, 12, 31)).alias("_day"))
    in_force = keys.drop_nulls("family").unique().sort("_day").join_asof(
        pricing.price_table().lazy(), left_on="_day", right_on="since", by="family", strategy="backward",
        check_sortedness=False,  # sorted by _day above; polars cannot verify it per group
    )
    rates = keys.join(in_force, on=["family", "_day"], how="left", maintain_order="left").select(
        "p_in", "p_out", "p_cached", "p_write").collect()
    per_call = pl.col("tool_name").replace_strict(
        {name: tool.per_call for name, tool in pricing.tools.items()}, default=None, return_dtype=pl.Float64)
    priced = steps.select("kind", "input_tokens", "output_tokens", "cached_input_tokens", "cache_write_input_tokens",
                          "cost_usd", per_call.alias("_per_call")).with_columns(rates.get_columns())
    # input tokens include cache reads and cache writes (GenAI conventions): each part at its own rate
    read, write = pl.col("cached_input_tokens").fill_null(0), pl.col("cache_write_input_tokens").fill_null(0)
    uncached = (pl.col("input_tokens") - read - write).clip(lower_bound=0)
    token_cost = (uncached * pl.col("p_in") + read * pl.col("p_cached") + write * pl.col("p_write")
                  + pl.col("output_tokens").fill_null(0) * pl.col("p_out")) / 1e6
    is_llm = pl.col("kind") == "llm"
    can_price = is_llm & pl.col("p_in").is_not_null() & pl.col("input_tokens").is_not_null()
    source = (
        pl.when(pl.col("cost_usd").is_not_null()).then(pl.lit("export"))
        .when(can_price | pl.col("_per_call").is_not_null()).then(pl.lit("pricing"))
        .when(is_llm).then(pl.lit("unknown"))
        .otherwise(pl.lit("none"))
    )
    cost = (
        pl.when(pl.col("cost_usd").is_not_null()).then(pl.col("cost_usd"))
        .when(can_price).then(token_cost)
        .when(pl.col("_per_call").is_not_null()).then(pl.col("_per_call"))
        .otherwise(None)
    )
    # streaming: the chains of arithmetic and conditions hold a morsel's temporaries at a time, not whole columns
    costs = priced.lazy().select(cost.alias("cost_usd"), source.alias("cost_source")).collect(engine="streaming")
    return steps.with_columns(costs.get_column("cost_usd"), costs.get_column("cost_source"))


def unpriced_models(steps: pl.DataFrame | pl.LazyFrame) -> list[str]:
    """Models of LLM calls whose cost is unknown because the model has no price (tokens were there)."""
    frame = steps.lazy().filter(
        (pl.col("cost_source") == "unknown") & pl.col("input_tokens").is_not_null() & pl.col("model").is_not_null()
    )
    return sorted(frame.select(pl.col("model").unique()).collect().get_column("model").to_list())
