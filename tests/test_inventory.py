"""Workflow inventory scoring: ranking, tiers, reasons, weights, bad input, saved history, charts, reality check."""

from __future__ import annotations

import datetime as dt
import json
import math

import polars as pl
import pytest
from click.testing import CliRunner

import agentops_kit as ak
from agentops_kit.charts import inventory_contributions, inventory_matrix
from agentops_kit.cli import main
from agentops_kit.inventory_store import InventoryStoreError

from .conftest import ROOT

INVENTORY = ROOT / "agentops_kit" / "data" / "inventory.csv"
HEADER = ("workflow,owner,runs_per_week,human_minutes_per_run,hourly_cost_usd,business_impact,risk_if_wrong,"
          "metric_clarity,data_quality,done_definition,escalation_path,depends_on_judgement,irreversible_actions")


def test_sample_ranking_tiers_and_reasons():
    scored = ak.score_inventory(INVENTORY)
    tiers = dict(scored.select("workflow", "tier").iter_rows())
    assert scored.height == 12 and scored["rank"].to_list() == list(range(1, 13))
    assert scored["workflow"][0] == "order_status_inquiries"
    assert tiers["support_refunds"] == "automate first"
    assert tiers["soc_alert_triage"] == "shadow first"  # high risk if wrong, whatever its score
    assert tiers["vendor_contract_negotiation"] == tiers["marketing_copy_review"] == "not yet"
    reasons = dict(scored.select("workflow", "reasons").iter_rows())
    assert "no one-sentence definition of done" in reasons["vendor_contract_negotiation"]
    assert "depends on negotiation" in reasons["vendor_contract_negotiation"]
    assert "depends on taste" in reasons["marketing_copy_review"]
    assert ("irreversible actions need approval gates: refund_request_submit, customer_email_send"
            in reasons["support_refunds"])
    assert "high risk if wrong (4/5): prove it in shadow mode first" in reasons["soc_alert_triage"]
    # tiers are ordered, and within a tier the score decides
    order = {"automate first": 0, "shadow first": 1, "not yet": 2}
    keys = [(order[t], -s) for t, s in scored.select("tier", "score").iter_rows()]
    assert keys == sorted(keys)
    # a disqualified workflow keeps its score: disqualifiers are apart from the weighted score
    churn = scored.filter(pl.col("workflow") == "churn_save_offers").row(0, named=True)
    assert churn["tier"] == "not yet" and churn["score"] > 60 and churn["disqualifiers"] == ["depends on negotiation"]


def test_score_formula_by_hand():
    row = ak.score_inventory(INVENTORY).filter(pl.col("workflow") == "support_refunds").row(0, named=True)
    hours = 420 * 9 / 60
    volume = min(1.0, math.log1p(hours) / math.log1p(80))
    expected = 100 * (0.30 * volume + 0.20 * 3 / 4 + 0.20 * 4 / 4 + 0.15 * 3 / 4 + 0.15 * 2 / 4)
    assert row["hours_per_week"] == 63.0 and row["score"] == pytest.approx(expected, abs=0.01)
    assert row["human_cost_per_week_usd"] == 63.0 * 48
    assert sum(row[f"contrib_{f}"] for f in ("volume", "impact", "clarity", "data", "safety")) == pytest.approx(row["score"], abs=0.05)


def test_weights_change_the_ranking_predictably(tmp_path):
    base = ak.score_inventory(INVENTORY)
    volume_heavy = ak.score_inventory(INVENTORY, weights={"volume": 1.0, "impact": 0, "clarity": 0, "data": 0, "safety": 0})
    # with volume alone, scores order by hours at stake (within each tier)
    for tier in ("automate first", "shadow first"):
        part = volume_heavy.filter(pl.col("tier") == tier)
        assert part["hours_per_week"].to_list() == sorted(part["hours_per_week"].to_list(), reverse=True)
    safety_heavy = ak.score_inventory(INVENTORY, weights={"safety": 1.0, "volume": 0, "impact": 0, "clarity": 0, "data": 0})
    low_risk = safety_heavy.filter(pl.col("tier") == "automate first")["risk_if_wrong"].to_list()
    assert low_risk == sorted(low_risk)
    path = tmp_path / "w.yaml"
    path.write_text("weights: {volume: 0.3, impact: 0.2, clarity: 0.2, data: 0.15, safety: 0.15}\nautomate_min: 90\n")
    strict = ak.score_inventory(INVENTORY, weights=path)
    assert set(strict["tier"]) == {"shadow first", "not yet"}  # nothing scores 90
    # same weights, stricter threshold: scores are unchanged, only tiers move
    assert strict.sort("workflow")["score"].to_list() == base.sort("workflow")["score"].to_list()
    path.write_text("weights: {volume: 0.3, speed: 1}\n")
    with pytest.raises(ak.ConfigError) as err:
        ak.score_inventory(INVENTORY, weights=path)
    assert err.value.key == "weights.speed" and err.value.line == 1


def test_bad_input_names_every_row_and_column(tmp_path):
    path = tmp_path / "inv.csv"
    path.write_text("\n".join([
        HEADER,
        "a,o,100,5,40,3,2,4,4,Done.,queue,,",
        "a,o,lots,5,40,3,2,4,4,Done.,queue,,",         # duplicate name; non-numeric volume
        "b,o,10,5,40,7,2,4,4,Done.,queue,,",            # rating out of range
        "c,o,10,-5,40,3,2,2.5,4,Done.,queue,,",         # negative minutes; non-integer rating
        ",o,10,5,40,3,2,4,,Done.,queue,,",              # no name; missing rating
    ]) + "\n")
    with pytest.raises(ak.InventoryError) as err:
        ak.score_inventory(path)
    assert err.value.problems == [
        "line 6, column workflow: a workflow name is required",
        "line 2 (workflow 'a'), column workflow: duplicate workflow name 'a'",
        "line 3 (workflow 'a'), column workflow: duplicate workflow name 'a'",
        "line 3 (workflow 'a'), column runs_per_week: 'lots' is not a number",
        "line 5 (workflow 'c'), column human_minutes_per_run: -5 must not be negative",
        "line 4 (workflow 'b'), column business_impact: 7 is out of range (a whole number 1-5)",
        "line 5 (workflow 'c'), column metric_clarity: 2.5 is out of range (a whole number 1-5)",
        "line 6, column data_quality: a value is required",
    ]
    assert str(path) in str(err.value)
    path.write_text("workflow,owner\nx,y\n")
    with pytest.raises(ak.InventoryError, match="missing required column 'runs_per_week'"):
        ak.score_inventory(path)
    path.write_text("")
    with pytest.raises(ak.InventoryError, match="the file is empty"):
        ak.score_inventory(path)
    path.write_text(HEADER + "\n")
    with pytest.raises(ak.InventoryError, match="no workflow rows"):
        ak.score_inventory(path)


def test_yaml_inventory_matches_csv(tmp_path):
    csv = pl.read_csv(INVENTORY, infer_schema=False)
    items = [{k: (v.split(";") if k in ("depends_on_judgement", "irreversible_actions") and v else v)
              for k, v in row.items() if v is not None} for row in csv.iter_rows(named=True)]
    import yaml

    path = tmp_path / "inv.yaml"
    path.write_text(yaml.safe_dump({"workflows": items}, sort_keys=False))
    assert ak.score_inventory(path).drop("rank").equals(ak.score_inventory(INVENTORY).drop("rank"))
    items[1]["risk_if_wrong"] = "9"
    path.write_text(yaml.safe_dump({"workflows": items}, sort_keys=False))
    with pytest.raises(ak.InventoryError, match=r"line \d+ \(workflow 'invoice_categorisation'\), column risk_if_wrong: 9"):
        ak.score_inventory(path)


def test_save_reload_and_compare_quarters(tmp_path):
    url = f"sqlite:///{tmp_path / 'inv.db'}"
    q3 = ak.score_inventory(INVENTORY)
    q3_id = ak.save_scoring(q3, url, label="2026-Q3", scored_at=dt.datetime(2026, 9, 30, tzinfo=dt.timezone.utc))
    q4 = ak.score_inventory(INVENTORY, weights={"volume": 0.6})
    q4_id = ak.save_scoring(q4, url, label="2026-Q4")
    hist = ak.scoring_history(url)
    assert hist.height == 24 and hist["label"].unique(maintain_order=True).to_list() == ["2026-Q3", "2026-Q4"]
    assert hist.filter(pl.col("scoring_id") == q3_id).select("workflow", "score").sort("workflow").equals(
        q3.select("workflow", "score").sort("workflow"))
    moved = ak.compare_scorings(url, q3_id, q4_id)
    assert moved.height == 12 and moved["score_change"].abs().sum() > 0
    soc = moved.filter(pl.col("workflow") == "soc_alert_triage").row(0, named=True)
    assert soc["score_after"] > soc["score_before"]  # the highest-volume workflow gains from the volume weight


def test_failed_save_writes_nothing(tmp_path):
    url = f"sqlite:///{tmp_path / 'inv.db'}"
    scored = ak.score_inventory(INVENTORY)
    broken = pl.concat([scored, scored.head(1)])  # a duplicate workflow violates the primary key mid-insert
    import sqlalchemy as sa

    with pytest.raises(InventoryStoreError, match="UNIQUE constraint failed"):
        ak.save_scoring(broken, url)
    assert ak.scoring_history(url).height == 0

    with sa.create_engine(url).connect() as conn:
        assert conn.execute(sa.text("select count(*) from inventory_scorings")).scalar() == 0


def test_charts():
    scored = ak.score_inventory(INVENTORY)
    matrix = inventory_matrix(scored)
    assert {t.name for t in matrix.data} == {"automate first", "shadow first", "not yet"}
    assert sum(len(t.x) for t in matrix.data) == 12
    bars = inventory_contributions(scored)
    assert [t.name for t in bars.data] == ["volume", "impact", "clarity", "data", "safety"]
    top = scored.sort("score").row(-1, named=True)
    assert bars.data[0].x[-1] == top["contrib_volume"]


def test_compare_with_traces(sample_ts):
    scored = ak.score_inventory(INVENTORY)
    runs = sample_ts.runs.collect()
    real = ak.compare_with_traces(scored, runs)
    row = real.filter(pl.col("workflow") == "support_refunds").row(0, named=True)
    active = runs.filter((pl.col("workflow") == "support_refunds") & (pl.col("mode") == "active"))
    weeks = active["started_at"].dt.strftime("%G-W%V").n_unique()
    successes = active.filter(pl.col("outcome") == "success").height
    assert row["measured_runs"] == active.height
    assert row["completion_rate"] == round(successes / active.height, 4)
    assert row["measured_hours_saved_per_week"] == round(successes / weeks * 9 / 60, 2)
    assert real.filter(pl.col("workflow") == "quarterly_pricing_strategy")["measured_runs"][0] is None


def test_cli_inventory_score(tmp_path):
    url = f"sqlite:///{tmp_path / 'i.db'}"
    result = CliRunner().invoke(main, ["inventory", "score", str(INVENTORY), "--format", "json", "--save", url])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload[0]["workflow"] == "order_status_inquiries" and len(payload) == 12
    assert ak.scoring_history(url).height == 12
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "\nx,o,1,1,1,9,1,1,1,Done.,q,,\n")
    result = CliRunner().invoke(main, ["inventory", "score", str(bad)])
    assert result.exit_code == 2 and "column business_impact: 9 is out of range" in result.output
