"""The one retry helper: exponential backoff with jitter, honouring Retry-After, bounded."""

from __future__ import annotations

import email.utils
import logging
import random
import time
import typing as t
from dataclasses import dataclass

import requests
from singer_sdk.exceptions import RetriableAPIError

from tap_epicor_kinetic.errors import RetriesExhaustedError, TLSError

T = t.TypeVar("T")

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    RetriableAPIError,
    requests.exceptions.Timeout,
    requests.exceptions.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
    ConnectionResetError,
)

# A server asking for more than this is waited for only this long per attempt.
MAX_RETRY_AFTER_SECONDS = 600.0


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to wait: `max_retries` retries after the first attempt."""

    max_retries: int = 5
    base_seconds: float = 1.0
    cap_seconds: float = 60.0

    def delay(self, attempt: int, exc: BaseException) -> float:
        """Seconds before retry number `attempt` (1-based)."""
        retry_after = _retry_after(exc)
        if retry_after is not None:
            # The server's wait is a floor; a little jitter spreads concurrent clients.
            return retry_after + random.uniform(0, min(1.0, self.base_seconds))
        ceiling = min(self.cap_seconds, self.base_seconds * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)


def _retry_after(exc: BaseException) -> float | None:
    """The Retry-After of a failed response (seconds or an HTTP date), if any."""
    response = getattr(exc, "response", None)
    if response is None:
        return None
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    return max(0.0, min(seconds, MAX_RETRY_AFTER_SECONDS))


def _reason(exc: BaseException) -> str:
    if isinstance(exc, RetriableAPIError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def call_with_retries(
    func: t.Callable[[], T],
    *,
    policy: RetryPolicy,
    what: str,
    logger: logging.Logger,
    sleep: t.Callable[[float], None] = time.sleep,
) -> T:
    """Call `func`, retrying transient failures; give up with a clear error after the last one."""
    attempt = 0
    while True:
        try:
            return func()
        except requests.exceptions.SSLError as exc:
            # Not transient: a certificate that is not trusted now will not be on the next try.
            msg = (
                f"{what}: the server's TLS certificate is not trusted ({exc}). If the server "
                "uses an internal certificate authority, set ca_bundle to that CA's PEM file"
            )
            raise TLSError(msg) from exc
        except TRANSIENT_ERRORS as exc:
            attempt += 1
            if attempt > policy.max_retries:
                msg = (
                    f"{what}: still failing after {policy.max_retries} retries "
                    f"(max_retries): {_reason(exc)}"
                )
                raise RetriesExhaustedError(msg) from exc
            wait = policy.delay(attempt, exc)
            logger.warning(
                "%s: transient failure (%s); retry %d of %d in %.1f s",
                what,
                _reason(exc),
                attempt,
                policy.max_retries,
                wait,
            )
            sleep(wait)
