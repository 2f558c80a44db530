"""``POST /v1/traces`` over HTTP (Tornado's server), answered as the OTLP/HTTP specification says.

Checks, in order: path and method (404, 405); a declared size far over the limit (413 at once); bearer token
(401), media type and content encoding (415), room in the receiver (429 when too many requests are at work,
503 when the spool holds more than the store has taken or the receiver is stopping, both with
``Retry-After``), each answered once the body is read and dropped; then the body: its size as read and once
decompressed (413), its decoding and structure (400), span by span screening (a partial success names what
was rejected). A request with accepted spans is answered 200 only once they are synced to the spool.
"""

from __future__ import annotations

import asyncio
import hmac

import orjson
from tornado import web

from . import body as wire
from .limits import Limits
from .screen import BadRequest, screen
from .spool import Spool

RETRY_AFTER_S = 1  # what a sender told 429 or 503 waits before trying again
HARD_LIMIT_FACTOR = 4  # bodies up to this many times the limit are read to answer them 413
PATH = "/v1/traces"


class State:
    """What the handlers share: the spool, the limits, the token, and how many requests are at work."""

    def __init__(self, spool: Spool, limits: Limits, token: str | None):
        self.spool, self.limits, self.token = spool, limits, token
        self.in_flight = 0
        self.stopping = False
        self.requests = self.spans = self.rejected_spans = 0
        self.refused: dict[int, int] = {}  # HTTP status -> requests answered with it

    def refusals(self) -> str:
        return ", ".join(f"{status}x{n}" for status, n in sorted(self.refused.items())) or "none"


class _Answering(web.RequestHandler):
    """Answers in the OTLP way: a google.rpc.Status in the request's encoding, never an HTML page."""

    def initialize(self, state: State) -> None:
        self.state = state

    def media(self) -> str:
        return wire.media_type(self.request.headers.get("Content-Type"))

    def answer(self, http_status: int, body: bytes, media: str, retry: bool = False) -> None:
        self.set_status(http_status)
        self.set_header("Content-Type", media if media in wire.MEDIA_TYPES else wire.JSON)
        if retry:
            self.set_header("Retry-After", str(RETRY_AFTER_S))
        if http_status == 401:
            self.set_header("WWW-Authenticate", 'Bearer realm="agentops-kit collect"')
        if self.state.stopping:
            self.set_header("Connection", "close")
        self.finish(body)

    def refuse(self, http_status: int, message: str, retry: bool = False) -> None:
        code = {400: wire.INVALID_ARGUMENT, 401: wire.UNAUTHENTICATED, 404: wire.NOT_FOUND, 405: wire.UNIMPLEMENTED,
                413: wire.RESOURCE_EXHAUSTED, 415: wire.INVALID_ARGUMENT, 429: wire.RESOURCE_EXHAUSTED,
                503: wire.UNAVAILABLE}[http_status]
        media = self.media()
        self.state.refused[http_status] = self.state.refused.get(http_status, 0) + 1
        self.answer(http_status, wire.status(media, code, message), media, retry)

    def write_error(self, status_code: int, **kwargs) -> None:
        message = {404: f"no such path: the receiver takes OTLP traces at POST {PATH}",
                   405: f"{self.request.method} is not allowed: the receiver takes OTLP traces at POST {PATH}"}.get(
            status_code, self._reason)
        media = self.media()
        self.set_header("Content-Type", media if media in wire.MEDIA_TYPES else wire.JSON)
        if status_code == 405:
            self.set_header("Allow", "POST")
        self.finish(wire.status(media, wire.UNIMPLEMENTED if status_code == 405 else wire.NOT_FOUND, message))

    def authorized(self) -> bool:
        if self.state.token is None:
            return True
        scheme, _, given = (self.request.headers.get("Authorization") or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), self.state.token.encode())

    def log_exception(self, typ, value, tb) -> None:  # tornado logs 4xx at warning level: nothing to report
        if not isinstance(value, web.HTTPError):
            super().log_exception(typ, value, tb)


class NotFound(_Answering):
    """Every other path: 404 (405 for a method the path does not take is the traces handler's)."""

    def prepare(self) -> None:
        raise web.HTTPError(404)


@web.stream_request_body
class Traces(_Answering):
    SUPPORTED_METHODS = ("POST",)  # any other method: 405 before anything else is read

    def prepare(self) -> None:
        self.counted = False
        self.chunks: list[bytes] = []
        self.size = 0
        limits = self.state.limits
        declared = self.request.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > HARD_LIMIT_FACTOR * limits.max_request_bytes:
            # answered at once, the body unread: a client still sending it may see the connection reset
            return self.refuse(413, f"the body is {declared} bytes; the limit is {limits.max_request_bytes}")
        # any other refusal is answered once the body is read (and dropped): senders send the whole body before
        # they read the answer, and a connection closed under them reads as a network error, not as the answer
        self.refusal = self.check()
        if self.refusal is None:
            self.state.in_flight += 1
            self.counted = True

    def check(self) -> tuple[int, str, bool] | None:
        """Why the request is refused before its body counts (status, reason, whether to retry), or None."""
        limits, state = self.state.limits, self.state
        if not self.authorized():
            return 401, "a bearer token is required (Authorization: Bearer <token>)", False
        media = self.media()
        if media not in wire.MEDIA_TYPES:
            return 415, f"Content-Type {media or '(none)'!r} is not supported: send {wire.PROTOBUF} or {wire.JSON}", False
        encoding = (self.request.headers.get("Content-Encoding") or "").strip().lower()
        if encoding not in wire.ENCODINGS:
            return 415, f"Content-Encoding {encoding!r} is not supported: send gzip, deflate or none", False
        if state.stopping:
            return 503, "the receiver is stopping; send again to its next start", True
        if state.in_flight >= limits.max_in_flight:
            return 429, f"{state.in_flight} requests are at work; try again", True
        if state.spool.pending_bytes >= limits.max_pending_bytes:
            return 503, (f"{state.spool.pending_bytes} bytes wait for the store to take them (the limit is "
                         f"{limits.max_pending_bytes}); try again"), True
        return None

    def data_received(self, chunk: bytes) -> None:
        # a body over the limit (or refused) is read and dropped, up to a few times the limit (the server's
        # max_body_size); beyond that the connection is dropped
        self.size += len(chunk)
        if self.refusal is None and self.size <= self.state.limits.max_request_bytes:
            self.chunks.append(chunk)
        else:
            self.chunks = []

    async def post(self) -> None:
        limits, media = self.state.limits, self.media()
        if self.refusal is not None:
            return self.refuse(*self.refusal)
        if self.size > limits.max_request_bytes:
            return self.refuse(413, f"the body is {self.size} bytes; the limit is {limits.max_request_bytes}")
        try:
            data = wire.inflate(b"".join(self.chunks), self.request.headers.get("Content-Encoding"),
                                limits.max_request_bytes)
            self.chunks = []
            screened = screen(wire.decode(data, media, limits.max_values), limits)
        except wire.BodyError as exc:
            return self.refuse(exc.status, str(exc))
        except BadRequest as exc:
            return self.refuse(400, str(exc))
        except RecursionError:
            return self.refuse(400, "the body nests too deep")
        if screened.accepted:
            try:
                await asyncio.wrap_future(self.state.spool.submit(orjson.dumps(screened.request) + b"\n"))
            except OSError as exc:
                return self.refuse(503, f"the spool cannot be written ({exc.strerror or exc}); try again", retry=True)
        self.state.requests += 1
        self.state.spans += screened.accepted
        self.state.rejected_spans += screened.rejected
        self.answer(200, wire.success(media, screened.rejected, screened.message()), media)

    def on_finish(self) -> None:
        if getattr(self, "counted", False):
            self.state.in_flight -= 1
            self.counted = False

    def on_connection_close(self) -> None:
        self.on_finish()


def application(state: State) -> web.Application:
    return web.Application([(PATH, Traces, {"state": state})], default_handler_class=NotFound,
                           default_handler_args={"state": state}, compress_response=False)
