"""The weekly review renders itself in JupyterLab as in the report: opened as it is, the notebook shows the
sample's review, with the KPI card of the agent over its error budget in red (the review's own CSS)."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from .conftest import ROOT
from .test_browser import ARTIFACTS, CHROMIUM, free_port


@pytest.fixture
def weekly_lab(tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's Chromium is needed at /usr/bin/chromium (apt-get install chromium); .ci/run installs it")
    root = tmp_path / "lab"
    root.mkdir()
    shutil.copy(ROOT / "agentops_kit" / "notebooks" / "weekly_review.ipynb", root)
    port, token = free_port(), secrets.token_hex(16)
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt"),
           "IPYTHONDIR": str(tmp_path / "ipy")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", f"--port={port}", "--ip=127.0.0.1",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", "--ServerApp.open_browser=False",
         "--LabApp.news_url=", "--LabServerApp.open_browser=False"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
            break
        except OSError:
            if proc.poll() is not None:
                pytest.fail("jupyter lab exited: " + proc.stdout.read()[-2000:])
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("jupyter lab did not start within 90 s")
    yield f"{base}/lab/tree/weekly_review.ipynb?token={token}"
    try:
        req = urllib.request.Request(f"{base}/api/shutdown?token={token}", method="POST")
        urllib.request.urlopen(req, timeout=5)
        proc.wait(timeout=20)
    except Exception:
        proc.kill()


def test_the_review_shows_a_breached_budget_in_red_in_jupyterlab(weekly_lab):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"])
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
