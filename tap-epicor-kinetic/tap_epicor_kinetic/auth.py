"""Epicor authentication: x-api-key plus Basic, Token Resource bearer or OAuth2 bearer, shared."""

from __future__ import annotations

import base64
import logging
import threading
import time
import typing as t
from dataclasses import dataclass

import requests
from requests.auth import AuthBase

from tap_epicor_kinetic.errors import (
    EpicorAuthError,
    auth_hint,
    check_response,
    error_message,
    is_license_exhaustion,
    json_body,
)
from tap_epicor_kinetic.retry import RetryPolicy, call_with_retries

AUTH_METHODS = ("basic", "token", "oauth2")
DEFAULT_TOKEN_TTL = 3600.0
# Refresh this long before expiry: a fifth of the lifetime, at least 1.5 s (token `exp` has
# one-second resolution) and at most 60 s. The SDK's own OAuth check has no margin
# (singer-meltano.md §1.4).
REFRESH_MARGIN_SECONDS = 60.0
MIN_REFRESH_MARGIN_SECONDS = 1.5


@dataclass(frozen=True)
class Credentials:
    """Everything the authenticator needs, from the tap's settings."""

    method: str
    base_url: str
    token_url: str  # OAuth2 only; every default lives in the tap's settings schema
    scope: str
    api_key: str | None = None
    username: str | None = None
    password: str | None = None
    client_id: str | None = None
    client_secret: str | None = None

    def validate(self) -> None:
        """Fail naming the missing setting for the chosen auth_method."""
        if self.method not in AUTH_METHODS:
            msg = f"auth_method: {self.method!r} is not one of {', '.join(AUTH_METHODS)}."
            raise ValueError(msg)
        needed = (
            ("client_id", "client_secret") if self.method == "oauth2" else ("username", "password")
        )
        missing = [name for name in needed if not getattr(self, name)]
        if missing:
            msg = f"auth_method {self.method!r} needs the setting(s): {', '.join(missing)}."
            raise ValueError(msg)


class EpicorAuthenticator(AuthBase):
    """Adds x-api-key and Authorization to every request; one instance serves every stream.

    A plain `requests.auth.AuthBase` (not an SDK authenticator) so the query string is left alone:
    the SDK authenticators re-encode `$top` as `%24top` (singer-meltano.md §1.2).
    """

    def __init__(
        self,
        credentials: Credentials,
        *,
        session: requests.Session,
        timeout: float,
        policy: RetryPolicy,
        logger: logging.Logger,
    ) -> None:
        """Store settings; tokens are fetched on first use."""
        self.credentials = credentials
        self._session = session
        self._timeout = timeout
        self._policy = policy
        self._logger = logger
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = threading.Lock()

    @property
    def uses_bearer(self) -> bool:
        """True for token and oauth2 (bearer tokens that expire)."""
        return self.credentials.method != "basic"

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Authenticate one outgoing request."""
        if self.credentials.api_key:
            request.headers["x-api-key"] = self.credentials.api_key
        request.headers["Authorization"] = self._authorization()
        if self.uses_bearer:
            request.register_hook("response", self._retry_once_on_401)
        return request

    def _authorization(self, *, force_refresh: bool = False) -> str:
        if not self.uses_bearer:
            pair = f"{self.credentials.username}:{self.credentials.password}".encode()
            return "Basic " + base64.b64encode(pair).decode("ascii")
        with self._lock:
            if force_refresh or not self._token_is_fresh():
                self._refresh()
            return f"Bearer {self._token}"

    def _token_is_fresh(self) -> bool:
        return self._token is not None and time.monotonic() < self._expires_at

    def _retry_once_on_401(self, response: requests.Response, **kwargs: t.Any) -> requests.Response:
        """On a 401, fetch a new token and send the request once more (a revoked/expired token)."""
        if response.status_code != 401 or getattr(response.request, "_epicor_retried", False):
            return response
        self._logger.info(
            "Epicor answered 401 (%s); fetching a new bearer token and retrying once.",
            error_message(response),
        )
        response.content  # noqa: B018 (drain the body so the connection can be reused)
        response.close()
        retry = response.request.copy()
        retry.headers["Authorization"] = self._authorization(force_refresh=True)
        retry._epicor_retried = True  # type: ignore[attr-defined]
        second: requests.Response = response.connection.send(retry, **kwargs)  # type: ignore[attr-defined]
        second.history.append(response)
        second.request = retry
        return second

    def _refresh(self) -> None:
        """Fetch a bearer token (Token Resource or OAuth2 client credentials)."""
        what = (
            "Epicor Token Resource"
            if self.credentials.method == "token"
            else "OAuth2 token endpoint"
        )

        def fetch() -> t.Any:
            # Parsed inside the retries: a proxy's HTML page is as passing as a 503.
            return json_body(self._token_request(), what=what)

        body = call_with_retries(fetch, policy=self._policy, what=what, logger=self._logger)
        if not isinstance(body, dict):
            body = {}
        if self.credentials.method == "token":
            token, ttl = body.get("AccessToken"), body.get("ExpiresIn")
        else:
            token, ttl = body.get("access_token"), body.get("expires_in")
        if not token:
            msg = f"{what}: the response has no access token; check token_url and auth_method."
            raise EpicorAuthError(msg)
        lifetime = float(ttl) if ttl not in (None, "") else DEFAULT_TOKEN_TTL
        margin = min(REFRESH_MARGIN_SECONDS, max(MIN_REFRESH_MARGIN_SECONDS, lifetime / 5))
        self._token = str(token)
        self._expires_at = time.monotonic() + lifetime - margin
        self._logger.info("Fetched a bearer token from the %s (valid %.0f s).", what, lifetime)

    def _token_request(self) -> requests.Response:
        creds = self.credentials
        headers = {"Accept": "application/json"}
        if creds.api_key:
            headers["x-api-key"] = creds.api_key
        if creds.method == "token":
            # Token Resource Service lives at the server root, not under /api (reference §4.2).
            url = creds.base_url.rstrip("/") + "/TokenResource.svc/"
            response = self._session.post(
                url,
                headers=headers,
                auth=(creds.username or "", creds.password or ""),
                timeout=self._timeout,
            )
            what = "Epicor Token Resource"
        else:
            data = {
                "grant_type": "client_credentials",
                "client_id": creds.client_id or "",
                "client_secret": creds.client_secret or "",
                "scope": creds.scope,
            }
            response = self._session.post(
                creds.token_url, data=data, headers=headers, timeout=self._timeout
            )
            what = "OAuth2 token endpoint"
        if response.status_code == 400 and not is_license_exhaustion(response):
            # OAuth2 reports bad client credentials as 400 invalid_client / invalid_grant.
            message = error_message(response)
            msg = f"{what}: HTTP 400: {message}. {auth_hint(message)}"
            raise EpicorAuthError(msg)
        check_response(response, what=what)
        return response
