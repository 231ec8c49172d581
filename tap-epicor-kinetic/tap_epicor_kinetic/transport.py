"""The tap's HTTP session: credentials stay on one origin, every answer has a total deadline.

requests follows redirects anywhere and re-sends custom headers (`x-api-key`) and, on 307/308,
the body (`client_secret`) to the new host; it strips only `Authorization`. Its `timeout` bounds
each socket read, so a server trickling a byte a second never times out. `OriginSession` closes
both gaps and tells an address that cannot be reached at all from a passing network fault.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import typing as t
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from singer_sdk.exceptions import FatalAPIError
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

try:
    from typing import override  # type: ignore[attr-defined]
except ImportError:  # Python < 3.12
    from typing_extensions import override

# Read the body in pieces of at most this size, checking the deadline between them.
_CHUNK = 256 * 1024


# The deadline of the request this thread is sending, and the watchdogs started for it.
_current = threading.local()


def _cut(conn: t.Any) -> None:
    """Shut the connection's socket: a read blocked on it returns at once."""
    sock = getattr(conn, "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


class _DeadlinePool:
    """Starts a watchdog that cuts the connection when the request's deadline passes.

    requests' timeout bounds each socket read; a status line and headers trickled a byte at a
    time would otherwise never time out. OriginSession stops the watchdog once the whole
    answer is in.
    """

    def _make_request(self, conn: t.Any, *args: t.Any, **kwargs: t.Any) -> t.Any:
        deadline: float | None = getattr(_current, "deadline", None)
        if deadline is not None:
            watchdog = threading.Timer(max(0.0, deadline - time.monotonic()), _cut, (conn,))
            watchdog.daemon = True
            watchdog.start()
            _current.watchdogs.append(watchdog)
        return super()._make_request(conn, *args, **kwargs)  # type: ignore[misc]


class _DeadlineHTTPPool(_DeadlinePool, HTTPConnectionPool):
    pass


class _DeadlineHTTPSPool(_DeadlinePool, HTTPSConnectionPool):
    pass


class DeadlineAdapter(HTTPAdapter):
    """An HTTPAdapter whose connection pools honour OriginSession's total deadline."""

    @override
    def init_poolmanager(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _DeadlineHTTPPool,
            "https": _DeadlineHTTPSPool,
        }


class OriginError(FatalAPIError):
    """A redirect to another origin, or a configured address that cannot be reached."""


def origin(url: str) -> str:
    """`scheme://host:port` of a URL (the default port made explicit)."""
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme, 0)
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{port}"


def _unreachable(exc: requests.exceptions.ConnectionError) -> str | None:
    """Why the address cannot be reached (name unknown, connection refused); None otherwise."""
    if isinstance(exc, requests.exceptions.SSLError):
        return None
    reason: BaseException | None = exc.args[0] if exc.args else None
    reason = getattr(reason, "reason", reason)
    while reason is not None:
        if isinstance(reason, ConnectionRefusedError):
            return "the connection was refused"
        name = type(reason).__name__
        if name in {"NameResolutionError", "gaierror"}:
            return "the host name does not resolve"
        reason = reason.__cause__ or reason.__context__
    return None


class OriginSession(requests.Session):
    """A session for one configured address (`setting` names it in every message).

    - Redirects are followed only within the origin of the request that was redirected;
      one to another scheme, host or port is refused before anything is sent there.
    - `timeout` is a total deadline for connect, headers and body (a watchdog cuts the
      connection when it passes).
    - A host that does not resolve or refuses connections before it ever answered fails at
      once naming the setting; once it has answered, the same error is a passing fault.
    """

    def __init__(self, setting: str) -> None:
        """A session whose requests belong to the address in `setting`."""
        super().__init__()
        self.setting = setting
        self.answered: set[str] = set()
        self.mount_adapter(DeadlineAdapter())

    def mount_adapter(self, adapter: HTTPAdapter) -> None:
        """Use `adapter` (a DeadlineAdapter, e.g. with a bigger pool) for http and https."""
        self.mount("https://", adapter)
        self.mount("http://", adapter)

    @override
    def send(self, request: requests.PreparedRequest, **kwargs: t.Any) -> requests.Response:
        timeout = kwargs.get("timeout")
        total = float(timeout) if isinstance(timeout, (int, float)) else None
        deadline = time.monotonic() + total if total else None
        stream = bool(kwargs.pop("stream", False))
        where = origin(request.url or "")
        outer = getattr(_current, "deadline", None)  # a redirect's hop keeps the first deadline
        if outer is None:
            _current.deadline, _current.watchdogs = deadline, []
        try:
            try:
                response = super().send(request, stream=True, **kwargs)
            except requests.exceptions.ConnectionError as exc:
                if deadline is not None and time.monotonic() >= deadline:
                    raise self._timed_out(where, total) from None
                why = _unreachable(exc)
                if why is None or where in self.answered:
                    raise
                msg = (
                    f"{self.setting}: cannot reach {where} ({why}); check the host name and "
                    f"port in {self.setting}, and that this machine may connect to it."
                )
                raise OriginError(msg) from None
            self.answered.add(where)
            # A response hook (the 401 retry) may have read the body already.
            if not stream and not response._content_consumed:  # type: ignore[attr-defined]
                self._read_body(response, deadline, total)
            return response
        finally:
            if outer is None:
                for watchdog in _current.watchdogs:
                    watchdog.cancel()
                _current.deadline, _current.watchdogs = None, []

    @staticmethod
    def _timed_out(where: str, total: float | None) -> requests.exceptions.ReadTimeout:
        return requests.exceptions.ReadTimeout(
            f"no complete answer within {total:g} s (request_timeout) from {where}"
        )

    @staticmethod
    def _read_body(
        response: requests.Response, deadline: float | None, total: float | None
    ) -> None:
        """Read the whole body before `deadline` (requests' timeout is per socket read)."""
        raw = response.raw
        chunks: list[bytes] = []
        try:
            while True:
                if deadline is not None and time.monotonic() > deadline:
                    raise OriginSession._timed_out(origin(response.url), total)
                chunk = raw.read1(_CHUNK, decode_content=True)
                if not chunk:
                    break
                chunks.append(chunk)
            if deadline is not None and time.monotonic() > deadline:
                # The watchdog cut the connection: what arrived is not the whole answer.
                raise OriginSession._timed_out(origin(response.url), total)
        except requests.exceptions.ReadTimeout:
            response.close()
            raise
        except Exception as exc:
            response.close()
            if deadline is not None and time.monotonic() > deadline:
                raise OriginSession._timed_out(origin(response.url), total) from None
            # What requests' own content reading raises for the same urllib3 errors.
            raise requests.exceptions.ChunkedEncodingError(exc) from exc
        response._content = b"".join(chunks)
        response._content_consumed = True  # type: ignore[attr-defined]
        raw.release_conn()

    @override
    def rebuild_auth(
        self, prepared_request: requests.PreparedRequest, response: requests.Response
    ) -> None:
        # Called for every hop of a redirect, before the next request is sent: the one place
        # that sees both where the answer came from and where it points.
        here = origin(response.url or "")
        there = origin(prepared_request.url or "")
        if there != here:
            request = response.request
            what = f"{request.method} {urlsplit(request.url or '').path}"
            msg = (
                f"{self.setting}: {here} answered {what} with a redirect (HTTP "
                f"{response.status_code}) to another origin, {there}; the tap sends credentials "
                f"only to the origin of {self.setting} and sent nothing there. If the server "
                f"has moved, set {self.setting} to its new address."
            )
            response.close()
            raise OriginError(msg)
        super().rebuild_auth(prepared_request, response)
