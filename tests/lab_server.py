"""JupyterLab on loopback for real-browser tests, and Debian's Chromium through Playwright (see RECIPES.md)."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def jupyter_lab(root: Path, state: Path, env: dict | None = None):
    """A JupyterLab serving ``root``; yields (base URL, token); shut down through its API afterwards."""
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's Chromium is needed at /usr/bin/chromium (apt-get install chromium); .ci/run installs it")
    port, token = free_port(), secrets.token_hex(16)
    full_env = {**os.environ, "JUPYTER_CONFIG_DIR": str(state / "cfg"), "JUPYTER_RUNTIME_DIR": str(state / "rt"),
                "IPYTHONDIR": str(state / "ipy"), **(env or {})}
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", f"--port={port}", "--ip=127.0.0.1",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", "--ServerApp.open_browser=False",
         "--LabApp.news_url=", "--LabServerApp.open_browser=False"],
        env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
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
    try:
        yield base, token
    finally:
        try:
            req = urllib.request.Request(f"{base}/api/shutdown?token={token}", method="POST")
            urllib.request.urlopen(req, timeout=5)
            proc.wait(timeout=20)
        except Exception:
            proc.kill()


def run_all(page) -> None:
    """Run every cell once the kernel is idle (a Run All sent before the kernel exists is dropped)."""
    page.wait_for_selector("text=Python 3 (ipykernel) | Idle", timeout=90_000)
    page.locator("#jp-main-dock-panel").click()
    page.evaluate("window.jupyterapp && window.jupyterapp.commands.execute('runmenu:run-all')")
    started = page.locator(".jp-OutputArea-output").or_(page.locator(".jp-InputPrompt", has_text="*")).first
    try:
        started.wait_for(timeout=15_000)
    except Exception:
        page.keyboard.press("Escape")
        page.get_by_text("Run", exact=True).first.click()
        page.get_by_text("Run All Cells", exact=True).click()
