"""`approvals serve`: the approvals notebook as a small web app (Voilà), for approvers who do not write code.

Voilà runs the packaged notebook, parameterised with the store and the serving user, from a temporary folder:
the page shows only the widget, never code, and its kernel accepts widget messages only. Whoever holds the
token acts as the serving user, through ApprovalQueue: the same audited decision as `approvals approve`.
"""

from __future__ import annotations

import html
import os
import secrets
import shutil
import socket
import tempfile
from pathlib import Path

import click

from ..errors import InputFileError, UsageError
from .approvals import approvals, echo, store_options

DEFAULT_PORT = 8866  # Voilà's own
MIN_TOKEN = 16


def read_token(path: str) -> str:
    try:
        token = Path(path).read_text().strip()
    except OSError as exc:
        raise InputFileError(path, f"cannot be read ({exc.strerror or exc}); expected a file holding the token") from None
    if len(token) < MIN_TOKEN or any(c.isspace() for c in token):
        raise InputFileError(path, f"expected one token of at least {MIN_TOKEN} characters without spaces "
                                   f"(found {len(token)} characters)")
    return token


def check_port(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        try:
            s.bind((host, port))
        except OSError as exc:
            raise UsageError(f"cannot listen on {host}:{port} ({exc.strerror or exc}): choose another --port") from None


def served_notebook(folder: Path, db: str, shown: str, user: str) -> Path:
    """The packaged approvals notebook with the store and the user filled in (papermill's parameters cell)."""
    import nbformat
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    from ..resources import notebook

    nb = load_notebook_node(str(notebook("approvals.ipynb")))
    nb = parameterize_notebook(nb, {"sample": False, "db_url": db, "user": user})
    # the notebook's own introduction speaks of its parameters: the page says what it serves instead
    nb.cells = [c for c in nb.cells if c.cell_type == "code"]
    nb.cells.insert(0, nbformat.v4.new_markdown_cell(
        f"# Approvals\n\nRequests waiting for a human in <code>{html.escape(shown)}</code>. Pick one, read what will run (one row per "
        "field its parameters set or change; the agent's own claim is shown apart and is not trusted), then Approve "
        "or Reject (a reason is required). Every decision is recorded in the store's audit log under your name."))
    path = folder / "approvals.ipynb"
    nbformat.write(nb, path)
    return path


@approvals.command("serve")
@store_options
@click.option("--host", default="127.0.0.1", show_default=True,
              help="address to listen on; anything but loopback needs --token-file")
@click.option("--port", type=click.IntRange(1, 65535), default=DEFAULT_PORT, show_default=True)
@click.option("--token-file", type=click.Path(), default=None,
              help="file holding the access token (default: a new token, printed with the URL)")
@click.option("--as", "user", default=None,
              help="who decides on this page (default: $JUPYTERHUB_USER, else $AGENTOPS_USER, else the OS user)")
def approvals_serve(db, key_file, host, port, token_file, user):
    """Serve the approvals page as a web app: approve and reject in a browser, as one user, audited."""
    from ..approvals import ApprovalQueue
    from ..approvals.identity import check_identity
    from ..approvals.store import parse_url, shown_url
    from ..collect.receiver import is_loopback
    from ..widgets.user import current_user

    if not is_loopback(host) and token_file is None:
        raise UsageError(f"--host {host} is not a loopback address: serving the approvals page beyond this machine "
                         "needs --token-file FILE (a token you hand out on purpose)")
    token = read_token(token_file) if token_file else secrets.token_urlsafe(24)
    user = check_identity(user or current_user(), "--as")
    ApprovalQueue(db, key_file=key_file, create=False).close()  # the store exists, and its key (if any) is right
    check_port(host, port)
    if key_file:
        os.environ["AGENTOPS_AUDIT_KEY_FILE"] = str(Path(key_file).resolve())  # read by the page's kernel
    folder = Path(tempfile.mkdtemp(prefix="agentops-approvals-serve-"))
    try:
        notebook = served_notebook(folder, db, shown_url(parse_url(db)), user)
        shown_host = f"[{host}]" if ":" in host else host
        url = f"http://{shown_host}:{port}/"
        echo(f"approvals page for {user}: {url}?token={token}" if token_file is None
             else f"approvals page for {user}: {url} (token from {token_file})")
        echo("anyone with this URL and token decides as " + user + "; stop with Ctrl-C")
        launch(notebook, host, port, token, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def launch(notebook: Path, host: str, port: int, token: str, folder: Path) -> None:
    try:
        from voila.app import Voila
    except ImportError:
        raise UsageError("Voilà is not installed: pip install 'voila>=0.5'") from None
    Voila.launch_instance(argv=[
        str(notebook), f"--Voila.ip={host}", f"--Voila.port={port}", "--Voila.port_retries=0",
        "--Voila.open_browser=False", f"--Voila.token={token}", f"--Voila.root_dir={folder}",
        "--VoilaConfiguration.show_tracebacks=False"])
