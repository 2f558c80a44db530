"""Drives JupyterLab in Debian's Chromium for test_browser.py, in a process of its own.

    python tests/browser_driver.py BASE_URL TOKEN APPROVALS_DB ARTIFACTS_DIR

Opens approvals.ipynb, runs all cells, clicks Approve on the request the widget shows, waits for the
outcome and saves a screenshot. Prints, as its last line, JSON: the option shown when Approve was clicked
and how many requests were pending just before.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

import agentops_kit as ak

CHROMIUM = "/usr/bin/chromium"


def main(base: str, token: str, db: str, artifacts: str) -> None:
    shots = Path(artifacts)
    shots.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            page.goto(f"{base}/lab/tree/notebooks/approvals.ipynb?token={token}")
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
            pending = len(ak.ApprovalQueue(f"sqlite:///{db}").pending())
            shown = page.locator(".widget-select select option:checked").first.inner_text()
            approve.click()
            page.wait_for_selector("text=approved", timeout=30_000)
            page.screenshot(path=str(shots / "approvals-widget.png"), full_page=True)
        except Exception:
            page.screenshot(path=str(shots / "approvals-widget-failure.png"), full_page=True)
            raise
        finally:
            browser.close()
    print(json.dumps({"shown": shown, "pending_before_click": pending}))


if __name__ == "__main__":
    main(*sys.argv[1:5])
