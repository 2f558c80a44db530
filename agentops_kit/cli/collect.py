"""`collect`: an OTLP/HTTP receiver that agents export traces to, committing them into a store."""

from __future__ import annotations

import sys

import click

from .app import main


@main.command()
@click.option("--into", "store", required=True, type=click.Path(file_okay=False),
              help="The store to commit received traces into (made if new).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but loopback needs --token-file.")
@click.option("--port", default=4318, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on (4318 is OTLP/HTTP's; 0 picks a free one, printed at start).")
@click.option("--token-file", type=click.Path(dir_okay=False), default=None,
              help="File holding a bearer token every request must carry (Authorization: Bearer ...).")
@click.option("--spool", type=click.Path(file_okay=False), default=None,
              help="Folder for received requests not yet committed [default: STORE.spool beside the store].")
@click.option("--commit-every", type=click.FloatRange(min=0.05), default=5.0, show_default=True,
              help="Seconds between commits into the store.")
@click.option("--max-request-mb", type=click.FloatRange(min=0.001), default=20.0, show_default=True,
              help="Largest request body, as sent and once decompressed (larger: 413).")
@click.option("--mapping", type=click.Path(dir_okay=False), default=None,
              help="mapping.yaml (outcome, workflow, mode, ...) applied as the store ingests.")
@click.option("--pricing", type=click.Path(dir_okay=False), default=None,
              help="pricing.yaml (USD per million tokens); default: the bundled dated list.")
def collect(store, host, port, token_file, spool, commit_every, max_request_mb, mapping, pricing):
    """Receive OTLP traces over HTTP (POST /v1/traces, protobuf or JSON, plain or gzip) and commit them into
    the store --into every few seconds. A request is answered 200 only once it is synced to disk; a receiver
    killed at any moment loses nothing it acknowledged, and commits what it kept when started again.
    SIGTERM or Ctrl-C drains: no new requests, the ones at work finish, everything is committed.

    Point an agent's exporter at it, e.g. OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318."""
    from ..collect import Limits, run
    from .serve import read_token

    token = read_token(token_file) if token_file is not None else None
    limits = Limits(max_request_bytes=int(max_request_mb * 1024 * 1024))
    sys.exit(run(store, host=host, port=port, token=token, spool=spool, commit_every=commit_every, limits=limits,
                 mapping=mapping, pricing=pricing))
