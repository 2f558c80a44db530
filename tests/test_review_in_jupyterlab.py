"""The weekly review renders itself in JupyterLab as in the report: opened as it is, the notebook shows the
sample's review, with the KPI card of the agent over its error budget in red (the review's own CSS)."""

from __future__ import annotations

import shutil

import pytest

from .conftest import ROOT
from .lab_server import CHROMIUM, CHROMIUM_ARGS, jupyter_lab
from .test_browser import ARTIFACTS


@pytest.fixture
def weekly_lab(tmp_path):
    root = tmp_path / "lab"
    root.mkdir()
    shutil.copy(ROOT / "agentops_kit" / "notebooks" / "weekly_review.ipynb", root)
    with jupyter_lab(root, tmp_path) as (base, token):
        yield f"{base}/lab/tree/weekly_review.ipynb?token={token}"


def test_the_review_shows_a_breached_budget_in_red_in_jupyterlab(weekly_lab):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            page.goto(weekly_lab)
            page.wait_for_selector("text=Python 3 (ipykernel) | Idle", timeout=90_000)
            page.locator("#jp-main-dock-panel").click()
            page.keyboard.press("Escape")
            page.get_by_text("Run", exact=True).first.click()
            page.get_by_text("Run All Cells", exact=True).click()
            breach = page.locator(".agentops-kpi.agentops-breach").first
            breach.wait_for(timeout=120_000)
            name = breach.locator("b").first.inner_text()
            border = breach.evaluate("e => getComputedStyle(e).borderTopColor")
            red = breach.locator(".agentops-bad").evaluate("e => getComputedStyle(e).color")
            cards = page.locator(".agentops-kpi").count()
            breach.scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACTS / "weekly-review-jupyterlab.png"))
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "weekly-review-jupyterlab-failure.png"), full_page=True)
            raise
        finally:
            browser.close()
    assert name == "SupportRefundAgent" and cards == 3
    assert border == "rgb(178, 24, 43)" and red == "rgb(178, 24, 43)"
