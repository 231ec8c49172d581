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


def _not_json(name: str) -> t.NoReturn:
    """`NaN` / `Infinity` are not JSON (Python's parser accepts them; no amount may be one)."""
    msg = f"{name} is not a JSON value"
    raise ValueError(msg)


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
    except RecursionError:
        msg = (
            f"{what}: HTTP {response.status_code} for {describe_request(response)} is JSON "
            "nested too deeply to be an OData answer"
        )
        raise RetriableAPIError(msg, response) from None
    try:
        # Not UTF-8 JSON (another declared encoding, a BOM): let requests work out the text.
        return response.json(parse_float=decimal.Decimal, parse_constant=_not_json)
    except (ValueError, RecursionError) as exc:
        kind = response.headers.get("Content-Type") or "no content type"
        text = response.text
        title = re.search(r"<title>(.*?)</title>", text, re.I | re.S)
        head = title.group(1).strip() if title else text[:120]
        msg = (
            f"{what}: HTTP {response.status_code} for {describe_request(response)} is not JSON "
            f"({kind}; {'an HTML page: ' if title else ''}{head!r}): {exc}"
        )
        raise RetriableAPIError(msg, response) from None


def _shape(value: t.Any) -> str:
    """What a JSON value is, for a message (`a str`, `a list`, `null`)."""
    if value is None:
        return "null"
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    return names.get(type(value), "a number")


def collection_problem(body: t.Any) -> str | None:
    """Why `body` is not an OData collection (`{"value": [ {row}, … ]}`); None when it is."""
    if not isinstance(body, dict):
        return f"the body is {_shape(body)}, not an object"
    if "value" not in body:
        inner = body.get("error")
        if isinstance(inner, dict) and inner.get("message"):
            return f"an OData error instead of rows: {str(inner['message'])[:300]}"
        return "the body has no 'value' (the list of rows)"
    rows = body["value"]
    if not isinstance(rows, list):
        return f"'value' is {_shape(rows)}, not a list of rows"
    for index, row in enumerate(rows):
        if type(row) is not dict:
            return f"row {index + 1} of 'value' is {_shape(row)}, not an object"
    return None


def collection_rows(
    response: requests.Response,
    *,
    what: str,
    check: t.Callable[[list[dict[str, t.Any]]], str | None] | None = None,
) -> list[dict[str, t.Any]]:
    """The rows of an OData collection answer; anything else is a (retriable) server fault.

    A 200 without a `value` list (an error body, a proxy's `{}`) must never read as an empty
    set: that would end paging early and save a bookmark past rows never read. `check` names
    a problem inside the rows (e.g. expanded children that are not lists of rows).
    """
    body = json_body(response, what=what)
    problem = collection_problem(body)
    if problem is None and check is not None:
        problem = check(body["value"])
    if problem is None:
        return t.cast("list[dict[str, t.Any]]", body["value"])
    msg = (
        f"{what}: HTTP {response.status_code} for {describe_request(response)} is not a list "
        f"of rows ({problem})"
    )
    raise RetriableAPIError(msg, response)
