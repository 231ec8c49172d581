"""A hostile HTTP server for tests: records what it receives and answers as a test scripts it.

It stands in for "another origin" a redirect points at (asserting it received nothing), for a
server that trickles its answer, and, as a proxy in front of the Epicor emulator, for a server
that answers a chosen request with a broken body or a rewritten one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

__all__ = ["Forward", "HostileServer", "Reply", "Seen"]


@dataclass(frozen=True)
class Seen:
    """One request as the server received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Reply:
    """What to answer: status, headers and body; `trickle` seconds between body bytes
    (between every byte from the status line on when `trickle_head`)."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    trickle: float = 0.0
    trickle_head: bool = False


#: Answers one request; `forward()` fetches the upstream's answer (proxy mode), `forward(path)`
#: the upstream's answer for another path.
Forward = Callable[..., Reply]
Responder = Callable[[Seen, Forward], Reply]
_HOP_HEADERS = {"connection", "transfer-encoding", "content-length", "keep-alive", "server", "date"}


class HostileServer:
    """A threaded HTTP server on a free local port; use as a context manager."""

    def __init__(self, respond: Responder | None = None, *, upstream: str | None = None) -> None:
        self.respond: Responder = respond or (lambda seen, forward: forward())
        self.upstream = upstream.rstrip("/") if upstream else None
        self.received: list[Seen] = []
        self._upstream_http = requests.Session()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                seen = Seen(
                    self.command, self.path, dict(self.headers.items()), self.rfile.read(length)
                )
                server.received.append(seen)
                reply = server.respond(seen, lambda path=None: server._forward(seen, path))
                head = f"HTTP/1.1 {reply.status} X\r\n" + "".join(
                    f"{name}: {value}\r\n"
                    for name, value in {
                        **reply.headers,
                        "Content-Length": str(len(reply.body)),
                    }.items()
                )
                data = (head + "\r\n").encode("latin-1") + reply.body
                start = 0 if reply.trickle_head else len(data) - len(reply.body)
                try:
                    self.wfile.write(data[:start])
                    if not reply.trickle:
                        self.wfile.write(data[start:])
                        return
                    for index in range(start, len(data)):
                        self.wfile.write(data[index : index + 1])
                        self.wfile.flush()
                        time.sleep(reply.trickle)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

            do_GET = do_POST = do_PUT = do_DELETE = _handle  # noqa: N815

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _forward(self, seen: Seen, path: str | None = None) -> Reply:
        if self.upstream is None:
            return Reply(404, b"no upstream")
        headers = {k: v for k, v in seen.headers.items() if k.lower() not in {"host"}}
        answer = self._upstream_http.request(
            seen.method,
            self.upstream + (path or seen.path),
            headers=headers,
            data=seen.body or None,
            allow_redirects=False,
            timeout=60,
        )
        kept = {k: v for k, v in answer.headers.items() if k.lower() not in _HOP_HEADERS}
        kept.pop("Content-Encoding", None)
        return Reply(answer.status_code, answer.content, kept)

    def paths(self) -> Iterator[str]:
        """Paths of the requests received, in order."""
        return (seen.path for seen in self.received)

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()
        self._upstream_http.close()

    def __enter__(self) -> HostileServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
