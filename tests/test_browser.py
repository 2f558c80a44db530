"""A real browser: JupyterLab on loopback, driven by Playwright with Debian's Chromium. Open approvals.ipynb,
run it, click Approve on a pending request, and check the database. A screenshot is kept in test-artifacts/."""

from __future__ import annotations

import pytest

import agentops_kit as ak

from .conftest import ROOT
from .lab_server import CHROMIUM, CHROMIUM_ARGS, jupyter_lab

ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture
def lab(tmp_path):
    root = tmp_path / "lab"
    (root / "notebooks").mkdir(parents=True)
    db = tmp_path / "approvals.db"
    # the demo queue (sample=True) opens where db_url says, so that the test can read what the click decided
    notebook = (ROOT / "agentops_kit" / "notebooks" / "approvals.ipynb").read_text()
    assert '"db_url = None  #' in notebook
    (root / "notebooks" / "approvals.ipynb").write_text(
        notebook.replace('"db_url = None  #', f'"db_url = \\"sqlite:///{db}\\"  #', 1))
    with jupyter_lab(root, tmp_path, env={"JUPYTERHUB_USER": "browser-alice"}) as (base, token):
        yield {"base": base, "token": token, "db": db}


def test_click_approve_in_jupyterlab(lab):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            page.goto(f"{lab['base']}/lab/tree/notebooks/approvals.ipynb?token={lab['token']}")
            # Run All sent before the kernel exists is dropped: wait for the status bar to show it idle.
            page.wait_for_selector("text=Python 3 (ipykernel) | Idle", timeout=90_000)
            page.locator("#jp-main-dock-panel").click()
            page.evaluate("window.jupyterapp && window.jupyterapp.commands.execute('runmenu:run-all')")
            if not page.locator("button:has-text('Approve')").count():
                page.keyboard.press("Escape")
                page.get_by_text("Run", exact=True).first.click()
                page.get_by_text("Run All Cells", exact=True).click()
            approve = page.locator("button:has-text('Approve')").first
            approve.wait_for(timeout=120_000)
            page.wait_for_selector("select option", state="attached", timeout=60_000)
            q = ak.ApprovalQueue(f"sqlite:///{lab['db']}")
            pending = q.pending()
            assert len(pending) == 3
            shown = page.locator(".widget-select select option:checked").first.inner_text()
            approve.click()
            page.wait_for_selector("text=approved", timeout=30_000)
            page.screenshot(path=str(ARTIFACTS / "approvals-widget.png"), full_page=True)
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "approvals-widget-failure.png"), full_page=True)
            raise
        finally:
            browser.close()
    decided = [r for r in q.requests().iter_rows(named=True) if r["status"] == "approved"]
    assert len(decided) == 1 and decided[0]["decided_by"] == "browser-alice"
    first = pending[0]  # the widget opens the oldest pending request
    assert decided[0]["id"] == first.id and first.action in shown and first.agent in shown
    assert len(q.pending()) == 2 and q.verify().ok
