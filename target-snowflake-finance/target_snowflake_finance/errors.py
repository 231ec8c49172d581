"""What a Snowflake failure means (retry? reconnect? user fix?) and the one retry helper."""

from __future__ import annotations

import logging
import random
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from snowflake.connector import errors as sf_errors
from snowflake.connector import network as sf_network

T = TypeVar("T")
logger = logging.getLogger("target_snowflake_finance")

WAREHOUSE_SUSPENDED = 608
NO_ACTIVE_WAREHOUSE = 606
MASTER_TOKEN_EXPIRED = 390114
SESSION_EXPIRED = 390112
ID_TOKEN_EXPIRED = 390110
# The connector's "HTTP 401 on a statement": the server no longer knows the session (e.g. it
# restarted, or dropped the session). A fresh login is the fix, like an expired token.
SESSION_REJECTED = 290401
STATEMENT_TIMEOUT = 630
STATEMENT_CANCELED = 604
# A login refused mid-run (a new session after an expiry): the user or key changed; retrying
# cannot help, in whichever class the connector raises it.
LOGIN_REFUSED = frozenset({390100, 390101, 390102, 390144, 394303, 394304})
# Too many statements waiting for a table lock (another loader's transaction holds it).
LOCK_WAITERS_EXCEEDED = 625

# Connector 5 (the new driver) keeps these classes only for compatibility and warns on access;
# printed at import, the warnings name "...Error" classes, which `meltano config test` reads as
# a failed loader.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    _HTTP_TRANSIENT = (
        sf_errors.ServiceUnavailableError,
        sf_errors.GatewayTimeoutError,
        sf_errors.BadGatewayError,
        sf_errors.InternalServerError,
        sf_errors.OtherHTTPRetryableError,
        sf_errors.RequestTimeoutError,
        sf_errors.RequestExceedMaxRetryError,
        sf_errors.TokenExpiredError,
    )


# Connector 5 raises ReauthenticationRequest (a session past renewal) as a ProgrammingError
# and warns, once per process, that its base becomes OperationalError in a later release. The
# target sorts it by its own class and code (`classify`), so the advice, printed mid-run as a
# FutureWarning, would only alarm a user with nothing to do.
_REAUTHENTICATE: tuple[type[BaseException], ...] = tuple(
    cls
    for cls in (
        getattr(sf_errors, "ReauthenticationRequest", None),
        getattr(sf_network, "ReauthenticationRequest", None),
    )
    if isinstance(cls, type)
)
warnings.filterwarnings(
    "ignore", message="`ReauthenticationRequest` currently subclasses", category=FutureWarning
)


class TargetConfigError(Exception):
    """A setting is wrong or missing; the message names it and the fix."""


class ConnectError(TargetConfigError):
    """No session: Snowflake could not be reached, or refused the login. One line, no traceback.

    `transient` when the network failed (a retry mid-run may succeed); a refused login is not.
    """

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


class BatchLoadError(Exception):
    """A batch could not be loaded after its retries."""


@dataclass(frozen=True)
class Classification:
    """How to react to one failure."""

    transient: bool
    reconnect: bool
    reason: str
    resume_warehouse: bool = False


def classify(exc: BaseException) -> Classification:
    """Sort a failure: retry on this connection, retry on a fresh one, or fail (reference §3)."""
    errno = getattr(exc, "errno", None)
    if isinstance(exc, ConnectError):
        return Classification(exc.transient, True, str(exc))
    if _REAUTHENTICATE and isinstance(exc, _REAUTHENTICATE):
        # Whatever its code and base class: the session cannot be renewed, a new one can.
        return Classification(True, True, f"session expired, signing in again ({errno})")
    if errno in LOGIN_REFUSED:
        return Classification(
            False, False, f"login refused ({errno}): check `user` and the key of `auth_method`"
        )
    if isinstance(exc, sf_errors.Error):
        if errno == WAREHOUSE_SUSPENDED:
            return Classification(
                True, False, "warehouse suspended (000608)", resume_warehouse=True
            )
        if errno == NO_ACTIVE_WAREHOUSE:
            return Classification(
                False,
                False,
                "no active warehouse (000606): the warehouse in setting `warehouse` does not exist "
                "or the role has no USAGE on it; fix `warehouse`/`role` or GRANT USAGE",
            )
        if errno in (MASTER_TOKEN_EXPIRED, SESSION_EXPIRED, ID_TOKEN_EXPIRED):
            return Classification(True, True, f"session token expired ({errno})")
        if errno == SESSION_REJECTED:
            return Classification(True, True, f"session no longer valid ({errno}: HTTP 401)")
        if errno == STATEMENT_TIMEOUT:
            return Classification(True, False, "statement timed out (000630)")
        if errno == STATEMENT_CANCELED:
            return Classification(True, False, "statement canceled (000604)")
        if errno == LOCK_WAITERS_EXCEEDED:
            return Classification(True, False, "table locked by another transaction (000625)")
        if isinstance(exc, _HTTP_TRANSIENT):
            return Classification(True, True, f"Snowflake unavailable ({type(exc).__name__})")
        # SQL state class 08 is a connection failure, whatever the class: connector 5 raises a
        # failed session renewal as DatabaseError 250001 (08001).
        if str(getattr(exc, "sqlstate", None) or "").startswith("08") or isinstance(
            exc, sf_errors.OperationalError | sf_errors.InterfaceError
        ):
            return Classification(True, True, f"connection failure ({errno})")
        return Classification(False, False, f"Snowflake error {errno}")
    if isinstance(exc, ConnectionError | TimeoutError | OSError):
        return Classification(True, True, f"network error ({type(exc).__name__})")
    return Classification(False, False, type(exc).__name__)


def backoff_seconds(attempt: int, base: float = 0.5, cap: float = 30.0) -> float:
    """Exponential backoff with jitter: ~0.5 s, 1 s, 2 s, … capped."""
    delay: float = min(cap, base * 2 ** (attempt - 1))
    return delay * (0.8 + random.random() * 0.4)


def with_retries(
    action: Callable[[int], T],
    *,
    max_retries: int,
    on_transient: Callable[[BaseException, Classification, int], None],
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[T, int]:
    """Run `action(attempt)`; retry transient failures up to `max_retries` times.

    Returns the result and the number of attempts. `on_transient` prepares the next attempt
    (e.g. a fresh connection, a warehouse resume). Permanent failures and the last transient
    one propagate.
    """
    attempt = 1
    while True:
        try:
            return action(attempt), attempt
        except Exception as exc:
            verdict = classify(exc)
            if not verdict.transient or attempt > max_retries:
                raise
            delay = backoff_seconds(attempt)
            logger.warning(
                "Attempt %d failed: %s; retrying in %.1fs (%d retries left)",
                attempt,
                verdict.reason,
                delay,
                max_retries - attempt + 1,
            )
            on_transient(exc, verdict, attempt)
            sleep(delay)
            attempt += 1
