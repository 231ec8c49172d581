"""Services: what every stream shares, built once from the settings by the tap.

The settings read and checked (zone, companies, page size, start date, look-back), the one HTTP
session, authenticator, retry policy, concurrency limit and server clock, and each service's
`$metadata`. Streams get this object from the tap when they are built instead of reaching into
the tap; every member is built on first use, so an offline `--discover` needs no credentials.
"""

from __future__ import annotations

import datetime as dt
import logging
import typing as t
from dataclasses import dataclass
from functools import cached_property
from urllib.parse import quote, urlsplit

import requests
from singer_sdk.exceptions import ConfigValidationError, FatalAPIError

from tap_epicor_kinetic import odata
from tap_epicor_kinetic.auth import Credentials, EpicorAuthenticator
from tap_epicor_kinetic.clock import ServerClock
from tap_epicor_kinetic.errors import EpicorAuthError, RetriesExhaustedError, check_response
from tap_epicor_kinetic.prefetch import AdaptiveLimit
from tap_epicor_kinetic.retry import RetryPolicy, call_with_retries
from tap_epicor_kinetic.run_log import RUN
from tap_epicor_kinetic.timeutil import load_zone, parse_start_date
from tap_epicor_kinetic.transport import DeadlineAdapter, OriginError, OriginSession


@dataclass(eq=False)
class Services:
    """The settings and connections every stream of one run shares."""

    #: The tap's settings (unset ones already at their schema default).
    config: t.Mapping[str, t.Any]
    logger: logging.Logger

    @property
    def online(self) -> bool:
        """Whether a server is configured (without base_url, discovery reads no $metadata)."""
        return bool(self.config.get("base_url"))

    # --- Settings ---------------------------------------------------------------------------

    @cached_property
    def zone(self) -> dt.tzinfo:
        """server_timezone as a tzinfo."""
        try:
            return load_zone(str(self.config["server_timezone"]))
        except ValueError as exc:
            raise ConfigValidationError(str(exc), errors=[str(exc)]) from exc

    @cached_property
    def base_url(self) -> str:
        """base_url without a trailing slash or `/api/v2[/odata]` (both easy to paste in)."""
        base = str(self.config.get("base_url") or "").strip().rstrip("/")
        for suffix in ("/api/v2/odata", "/api/v2"):
            if base.lower().endswith(suffix):
                base = base[: -len(suffix)].rstrip("/")
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            msg = (
                f"base_url: {base!r} is not an http(s) URL; use the server root including the "
                "instance, e.g. https://erp.example.com/ERP11PROD"
            )
            raise ConfigValidationError(msg, errors=[msg])
        return base

    @cached_property
    def companies(self) -> list[str]:
        """Companies to extract: `companies`, else `company`."""
        listed = [str(c) for c in self.config.get("companies") or [] if c]
        if listed:
            return listed
        if self.config.get("company"):
            return [str(self.config["company"])]
        msg = "company: set the Epicor company ID (or companies: a list of them)."
        raise ConfigValidationError(msg, errors=[msg])

    @cached_property
    def page_size(self) -> int:
        """`$top`."""
        return self._at_least_one("page_size")

    @cached_property
    def max_concurrent_requests(self) -> int:
        """Pages of a stream in flight at once."""
        return self._at_least_one("max_concurrent_requests", " (1 = one page at a time)")

    def _at_least_one(self, setting: str, hint: str = "") -> int:
        value = int(self.config[setting])
        if value < 1:
            msg = f"{setting}: must be at least 1{hint}."
            raise ConfigValidationError(msg, errors=[msg])
        return value

    @cached_property
    def request_limit(self) -> AdaptiveLimit:
        """Concurrency in use now, shared by every stream (license seats are per tap)."""
        return AdaptiveLimit(self.max_concurrent_requests, self.logger)

    @cached_property
    def late_commit_lookback(self) -> dt.timedelta:
        """late_commit_lookback_minutes as a duration."""
        minutes = float(self.config["late_commit_lookback_minutes"])
        if minutes < 0:
            msg = "late_commit_lookback_minutes: must be 0 or more (15 is the default)."
            raise ConfigValidationError(msg, errors=[msg])
        return dt.timedelta(minutes=minutes)

    @cached_property
    def start_date(self) -> dt.datetime | None:
        """start_date as an instant."""
        value = self.config.get("start_date")
        if not value:
            return None
        try:
            return parse_start_date(str(value), self.zone)
        except ValueError as exc:
            raise ConfigValidationError(str(exc), errors=[str(exc)]) from exc

    @cached_property
    def server_clock(self) -> ServerClock:
        """Epicor's current time, from its answers' Date header (bounds every bookmark)."""
        return ServerClock()

    @cached_property
    def request_timeout(self) -> float:
        """request_timeout: seconds to wait for a response before retrying."""
        return float(self.config["request_timeout"])

    @cached_property
    def retry_policy(self) -> RetryPolicy:
        """Retries shared by data, metadata and token requests."""
        return RetryPolicy(
            max_retries=int(self.config["max_retries"]),
            base_seconds=float(self.config["retry_backoff_seconds"]),
        )

    # --- Shared HTTP session, authenticator and $metadata -----------------------------------

    @cached_property
    def http_session(self) -> requests.Session:
        """One session (connection pool, TLS settings) for every data request of the run."""
        session = self._new_session("base_url")
        session.hooks["response"].append(RUN.count_request)
        if session.verify is False:
            self.logger.warning(
                "verify_ssl is off: the server's TLS certificate is not checked. "
                "Prefer ca_bundle for an internal CA."
            )
        return session

    def _new_session(self, setting: str) -> OriginSession:
        """A session for the address in `setting`, with the TLS settings.

        Token requests get their own, unauthenticated one.
        """
        session = OriginSession(setting)
        if self.max_concurrent_requests > 10:
            session.mount_adapter(DeadlineAdapter(pool_maxsize=self.max_concurrent_requests))
        ca_bundle = self.config.get("ca_bundle")
        if ca_bundle:
            session.verify = str(ca_bundle)
        elif self.config["verify_ssl"] is False:
            session.verify = False
        return session

    @cached_property
    def authenticator(self) -> EpicorAuthenticator:
        """The one authenticator every stream shares (one token, refreshed for all)."""
        credentials = self.credentials
        try:
            credentials.validate()
        except ValueError as exc:
            raise ConfigValidationError(str(exc), errors=[str(exc)]) from exc
        method = credentials.method
        return EpicorAuthenticator(
            credentials,
            session=self._new_session("token_url" if method == "oauth2" else "base_url"),
            timeout=self.request_timeout,
            policy=self.retry_policy,
            logger=self.logger,
        )

    @cached_property
    def credentials(self) -> Credentials:
        """The auth settings."""
        return Credentials(
            method=str(self.config["auth_method"]),
            base_url=self.base_url if self.config.get("base_url") else "",
            api_key=self.config.get("api_key"),
            username=self.config.get("username"),
            password=self.config.get("password"),
            client_id=self.config.get("client_id"),
            client_secret=self.config.get("client_secret"),
            token_url=str(self.config["token_url"]),
            scope=str(self.config["scope"]),
        )

    @cached_property
    def _metadata_cache(self) -> dict[str, odata.ServiceMetadata | None]:
        return {}

    def company_root(self, company: str) -> str:
        """`{base_url}/api/v2/odata/{company}`."""
        return f"{self.base_url}/api/v2/odata/{quote(company, safe='')}"

    def get_url(
        self,
        url: str,
        *,
        accept: str,
        what: str,
        check: t.Callable[[requests.Response], object] | None = None,
    ) -> requests.Response:
        """GET outside a stream ($metadata, BAQ samples): shared auth, TLS and retries.

        `check` reads the body inside the retry loop (a RetriableAPIError from it is retried).
        """

        def send() -> requests.Response:
            request = requests.Request("GET", url, headers={"Accept": accept})
            prepared = self.authenticator(self.http_session.prepare_request(request))
            response = self.http_session.send(prepared, timeout=self.request_timeout)
            check_response(response, what=what)
            if check is not None:
                check(response)
            return response

        return call_with_retries(send, policy=self.retry_policy, what=what, logger=self.logger)

    def service_metadata(self, service: str) -> odata.ServiceMetadata | None:
        """The service's `$metadata` (read once per run); None when it cannot be read."""
        if service in self._metadata_cache:
            return self._metadata_cache[service]
        if not self.config.get("base_url"):
            return None
        url = f"{self.company_root(self.companies[0])}/{service}/$metadata"
        what = f"$metadata of {service}"
        meta: odata.ServiceMetadata | None
        try:
            response = self.get_url(url, accept="application/xml", what=what)
            meta = odata.parse_metadata(response.content)
        except (EpicorAuthError, RetriesExhaustedError, OriginError):
            raise
        except (FatalAPIError, ValueError) as exc:
            self.logger.warning(
                "%s could not be read (%s); using the bundled schema and UpdatedOn as is.",
                what,
                exc,
            )
            meta = None
        self._metadata_cache[service] = meta
        return meta
