"""A real browser: JupyterLab on loopback, driven by Playwright with Debian's Chromium. Open approvals.ipynb,
run it, click Approve on a pending request, and check the database. A screenshot is kept in test-artifacts/."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

import agentops_kit as ak

from .conftest import ROOT

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab(tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's Chromium is needed at /usr/bin/chromium (apt-get install chromium); .ci/run installs it")
    root = tmp_path / "lab"
    (root / "notebooks").mkdir(parents=True)
    db = tmp_path / "approvals.db"
    # the demo queue (sample=True) opens where db_url says, so that the test can read what the click decided
    notebook = (ROOT / "agentops_kit" / "notebooks" / "approvals.ipynb").read_text()
    assert '"db_url = None  #' in notebook
    (root / "notebooks" / "approvals.ipynb").write_text(
        notebook.replace('"db_url = None  #', f'"db_url = \\"sqlite:///{db}\\"  #', 1))
    port, token = free_port(), secrets.token_hex(16)
    env = {**os.environ, "JUPYTERHUB_USER": "browser-alice",
           "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt"),
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
    yield {"base": base, "token": token, "db": db}
    try:
        req = urllib.request.Request(f"{base}/api/shutdown?token={token}", method="POST")
        urllib.request.urlopen(req, timeout=5)
        proc.wait(timeout=20)
    except Exception:
        proc.kill()


def test_click_approve_in_jupyterlab(lab):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"])
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
