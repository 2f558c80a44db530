"""A real browser on `agentops-kit approvals serve`: Voilà on a free loopback port with a token file, driven by
Playwright with Debian's Chromium. Approve one request, reject another with a reason, then check the store: the
audit log verifies and the decisions are the served user's. Screenshots are kept in test-artifacts/."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

import agentops_kit as ak

from .lab_server import CHROMIUM, free_port
from .test_browser import ARTIFACTS

SERVED_USER = "served-carol"


@pytest.fixture
def served(tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's Chromium is needed at /usr/bin/chromium (apt-get install chromium); .ci/run installs it")
    url = f"sqlite:///{tmp_path / 'approvals.db'}"
    q = ak.ApprovalQueue(url)
    made = [q.submit(agent="RefundAgent", action="refund", run_id=f"run-{i}", requested_by="svc-refunds",
                     params={"amount": amount, "customer": "C-1"}, before={"amount": 0, "customer": "C-1"},
                     after={"amount": amount}) for i, amount in enumerate((40, 9000))]
    q.close()
    token = secrets.token_urlsafe(24)
    token_file = tmp_path / "token"
    token_file.write_text(token + "\n")
    port = free_port()
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt"),
           "IPYTHONDIR": str(tmp_path / "ipy"), "JUPYTERHUB_USER": "not-the-served-user"}
    proc = subprocess.Popen([sys.executable, "-m", "agentops_kit", "approvals", "serve", "--db", url, "--port", str(port),
                             "--token-file", str(token_file), "--as", SERVED_USER],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if proc.poll() is not None:
                pytest.fail("approvals serve exited: " + proc.stdout.read()[-2000:])
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("approvals serve did not listen within 90 s")
    yield {"base": f"http://127.0.0.1:{port}", "token": token, "url": url, "made": made, "proc": proc}
    proc.send_signal(signal.SIGTERM)  # Voilà shuts its kernels down on SIGTERM
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_approve_and_reject_in_the_served_page(served):
    from playwright.sync_api import sync_playwright

    # without the token there is no page, only Voilà's login
    with pytest.raises(urllib.request.HTTPError) as refused:
        urllib.request.build_opener(NoRedirect).open(served["base"] + "/", timeout=10)
    assert refused.value.code in (302, 403)

    ARTIFACTS.mkdir(exist_ok=True)
    first, second = served["made"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"])
        page = browser.new_page(viewport={"width": 1400, "height": 1400})
        try:
            page.goto(f"{served['base']}/?token={served['token']}")
            approve = page.locator("button:has-text('Approve')").first
            approve.wait_for(timeout=120_000)
            page.wait_for_selector(f"text=acting as {SERVED_USER}", timeout=30_000)
            page.wait_for_selector("text=2 pending", timeout=30_000)
            page.wait_for_selector("text=What will run", timeout=30_000)
            page.screenshot(path=str(ARTIFACTS / "approvals-serve-open.png"), full_page=True)
            approve.click()
            page.wait_for_selector(f"text=refund ({first.id}) by {SERVED_USER}", timeout=30_000)
            page.wait_for_selector("text=1 pending", timeout=30_000)
            reject = page.locator("button:has-text('Reject')").first
            reject.click()  # no reason yet: refused, said plainly
            page.wait_for_selector("text=a rejection needs a reason", timeout=30_000)
            page.locator(".widget-text input").first.fill("amount above the refund limit")
            reject.click()
            page.wait_for_selector(f"text=refund ({second.id}) by {SERVED_USER}", timeout=30_000)
            page.wait_for_selector("text=Nothing waits for a decision", timeout=30_000)
            page.wait_for_selector("td:has-text('amount above the refund limit')", timeout=30_000)
            assert page.locator("button:has-text('Approve')").first.is_disabled()
            page.screenshot(path=str(ARTIFACTS / "approvals-serve-decided.png"), full_page=True)
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "approvals-serve-failure.png"), full_page=True)
            raise
        finally:
            browser.close()
    q = ak.ApprovalQueue(served["url"], create=False)
    assert q.verify().ok
    got = {r.id: r for r in (q.get(first.id), q.get(second.id))}
    assert (got[first.id].status, got[first.id].decided_by) == ("approved", SERVED_USER)
    assert (got[second.id].status, got[second.id].decided_by, got[second.id].decision_note) == \
        ("rejected", SERVED_USER, "amount above the refund limit")
    log = q.audit_log()
    assert sorted(log.filter(log["event"].is_in(["approved", "rejected"]))["actor"].to_list()) == [SERVED_USER] * 2


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None
