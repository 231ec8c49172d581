"""The tap's HTTP session: credentials stay on one origin, every answer has a total deadline.

requests follows redirects anywhere and re-sends custom headers (`x-api-key`) and, on 307/308,
the body (`client_secret`) to the new host; it strips only `Authorization`. Its `timeout` bounds
each socket read, so a server trickling a byte a second never times out. `OriginSession` closes
both gaps and tells an address that cannot be reached at all from a passing network fault.
"""

from __future__ import annotations

import time
import typing as t
from urllib.parse import urlsplit

import requests
from singer_sdk.exceptions import FatalAPIError

try:
    from typing import override  # type: ignore[attr-defined]
except ImportError:  # Python < 3.12
    from typing_extensions import override

# Read the body in pieces of at most this size, checking the deadline between them.
_CHUNK = 256 * 1024


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
    - `timeout` is a total deadline for connect, headers and body (checked between body
      reads; the headers are bounded per read).
    - A host that does not resolve or refuses connections before it ever answered fails at
      once naming the setting; once it has answered, the same error is a passing fault.
    """

    def __init__(self, setting: str) -> None:
        """A session whose requests belong to the address in `setting`."""
        super().__init__()
        self.setting = setting
        self.answered: set[str] = set()

    @override
    def send(self, request: requests.PreparedRequest, **kwargs: t.Any) -> requests.Response:
        timeout = kwargs.get("timeout")
        total = float(timeout) if isinstance(timeout, (int, float)) else None
        deadline = time.monotonic() + total if total else None
        stream = bool(kwargs.pop("stream", False))
        where = origin(request.url or "")
        try:
            response = super().send(request, stream=True, **kwargs)
        except requests.exceptions.ConnectionError as exc:
            why = _unreachable(exc)
            if why is None or where in self.answered:
                raise
            msg = (
                f"{self.setting}: cannot reach {where} ({why}); check the host name and port "
                f"in {self.setting}, and that this machine may connect to it."
            )
            raise OriginError(msg) from None
        self.answered.add(where)
        if not stream and not response._content_consumed:  # type: ignore[attr-defined]  # a hook may have read it
            self._read_body(response, deadline, total)
        return response

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
                    msg = (
                        f"no complete answer within {total:g} s (request_timeout) from "
                        f"{origin(response.url)}"
                    )
                    raise requests.exceptions.ReadTimeout(msg, response=response)
                chunk = raw.read1(_CHUNK, decode_content=True)
                if not chunk:
                    break
                chunks.append(chunk)
        except requests.exceptions.ReadTimeout:
            response.close()
            raise
        except Exception as exc:
            response.close()
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
