"""The one place that reads Epicor's error body and classifies failed responses."""

from __future__ import annotations

import decimal
import re
import typing as t
from http import HTTPStatus
from urllib.parse import unquote, urlsplit

import msgspec
import requests
from singer_sdk.contrib.msgspec import decoder as msgspec_decoder
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError

# A 400 whose body names these is license-pool exhaustion, which clears by itself (reference §4.3).
_LICENSE_MARKERS = ("LicenseAccessException", "Maximum users exceeded")
_RETRY_STATUSES = {
    HTTPStatus.REQUEST_TIMEOUT,
    HTTPStatus.TOO_MANY_REQUESTS,
}


class EpicorAuthError(FatalAPIError):
    """Epicor refused the credentials or the API key (after one token refresh)."""


class RetriesExhaustedError(FatalAPIError):
    """A transient failure outlasted `max_retries`."""


class TLSError(FatalAPIError):
    """The server's certificate is not trusted (fix: ca_bundle)."""


def error_message(response: requests.Response) -> str:
    """Epicor's `ErrorMessage` (or an OData / OAuth error text, or the start of the body)."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return text[:300] if text else (response.reason or "")
    if isinstance(body, dict):
        for key in ("ErrorMessage", "error_description", "Message", "message"):
            if isinstance(body.get(key), str) and body[key]:
                return str(body[key]) + _details(body, str(body[key]))
        inner = body.get("error")
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return str(inner["message"])
        if isinstance(inner, str):
            return inner
    return response.text[:300]


def _details(body: dict[str, t.Any], message: str) -> str:
    """Epicor's ErrorDetails messages that add to ErrorMessage, as ` (…; …)`."""
    details = body.get("ErrorDetails")
    if not isinstance(details, list):
        return ""
    extra = [
        str(d["Message"])
        for d in details
        if isinstance(d, dict) and d.get("Message") and str(d["Message"]) != message
    ]
    return f" ({'; '.join(dict.fromkeys(extra))})" if extra else ""


def describe_request(response: requests.Response) -> str:
    """`GET /path?query`, decoded; it holds no secret (key and token travel in headers)."""
    request = response.request
    parts = urlsplit(request.url or "")
    target = unquote(parts.path + (f"?{parts.query}" if parts.query else ""))
    return f"{request.method} {target}"


def is_license_exhaustion(response: requests.Response) -> bool:
    """True for Epicor's 400 LicenseAccessException / 'Maximum users exceeded'."""
    return response.status_code == HTTPStatus.BAD_REQUEST and any(
        marker in response.text for marker in _LICENSE_MARKERS
    )


def auth_hint(message: str) -> str:
    """The setting to fix for a 401/403, from Epicor's message."""
    lowered = message.lower()
    if "api key" in lowered:
        return "Check the api_key setting (the v2 API key sent as x-api-key)."
    if "username or password" in lowered:
        return "Check the username/password settings (or client_id/client_secret for oauth2)."
    if "access denied" in lowered or "scope" in lowered:
        return (
            "Check the company setting, and that the integration user and API key may use "
            "this company and service (access scope)."
        )
    return (
        "Check the credentials (auth_method, username/password or "
        "client_id/client_secret, api_key)."
    )


def check_response(response: requests.Response, *, what: str) -> None:
    """Raise for a failed response: retriable for transient failures, fatal otherwise.

    `what` names what was being read (a stream, the token endpoint) for the message.
    """
    status = response.status_code
    if status < HTTPStatus.BAD_REQUEST:
        return
    message = error_message(response)
    described = f"{what}: HTTP {status} for {describe_request(response)}: {message}"
    if status in _RETRY_STATUSES or status >= HTTPStatus.INTERNAL_SERVER_ERROR:
        raise RetriableAPIError(described, response)
    if is_license_exhaustion(response):
        raise RetriableAPIError(described, response)
    if status in {HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN}:
        raise EpicorAuthError(f"{described}. {auth_hint(message)}")
    raise FatalAPIError(described)


def json_body(response: requests.Response, *, what: str) -> t.Any:
    """The response's JSON (numbers as Decimal); a body that is not JSON is retriable.

    A proxy's HTML page, a cut connection or a broken server answer is usually passing; after
    the retries the message says what came back instead of a JSON parser's traceback.
    """
    try:
        # The SDK's msgspec decoder parses a page several times faster than requests' json; its
        # float_hook keeps every non-integral number an exact Decimal, as parse_float=Decimal.
        return msgspec_decoder.decode(response.content)
    except msgspec.DecodeError:
        pass
    try:
        # Not UTF-8 JSON (another declared encoding, a BOM): let requests work out the text.
        return response.json(parse_float=decimal.Decimal)
    except ValueError as exc:
        kind = response.headers.get("Content-Type") or "no content type"
        text = response.text
        title = re.search(r"<title>(.*?)</title>", text, re.I | re.S)
        head = title.group(1).strip() if title else text[:120]
        msg = (
            f"{what}: HTTP {response.status_code} for {describe_request(response)} is not JSON "
            f"({kind}; {'an HTML page: ' if title else ''}{head!r}): {exc}"
        )
        raise RetriableAPIError(msg, response) from None
