"""Fault injection (latency, 5xx, 429, license exhaustion, bad bodies) and request counters."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from finance_sandbox.epicor.errors import EpicorError


@dataclass
class Faults:
    """Switches set by CLI flags and `POST /_sandbox/faults`; consumed per data request."""

    latency_ms: int = 0
    error_rate: float = 0.0
    error_next: int = 0
    rate_limit_next: int = 0
    retry_after: int = 1
    license_exhausted_next: int = 0
    html_next: int = 0
    html_status: int = 502
    invalid_json_next: int = 0
    truncated_next: int = 0
    rng: random.Random = field(default_factory=lambda: random.Random(7))

    def update(self, body: dict[str, Any]) -> None:
        for key in (
            "latency_ms",
            "error_next",
            "rate_limit_next",
            "retry_after",
            "license_exhausted_next",
            "html_next",
            "html_status",
            "invalid_json_next",
            "truncated_next",
        ):
            if key in body:
                setattr(self, key, int(body[key]))
        if "error_rate" in body:
            self.error_rate = float(body["error_rate"])

    def clear(self) -> None:
        self.latency_ms = 0
        self.error_rate = 0.0
        self.error_next = self.rate_limit_next = self.license_exhausted_next = 0
        self.html_next = self.invalid_json_next = self.truncated_next = 0
        self.retry_after = 1
        self.html_status = 502

    def state(self) -> dict[str, Any]:
        return {
            "latency_ms": self.latency_ms,
            "error_rate": self.error_rate,
            "error_next": self.error_next,
            "rate_limit_next": self.rate_limit_next,
            "retry_after": self.retry_after,
            "license_exhausted_next": self.license_exhausted_next,
            "html_next": self.html_next,
            "html_status": self.html_status,
            "invalid_json_next": self.invalid_json_next,
            "truncated_next": self.truncated_next,
        }

    def next_bad_body(self) -> str | None:
        """`html`, `invalid_json` or `truncated` if this data request gets a broken body."""
        for kind in ("html", "invalid_json", "truncated"):
            left = getattr(self, f"{kind}_next")
            if left > 0:
                setattr(self, f"{kind}_next", left - 1)
                return kind
        return None

    def next_error(self) -> EpicorError | None:
        """The fault this data request must answer with, if any (checked in a fixed order)."""
        if self.rate_limit_next > 0:
            self.rate_limit_next -= 1
            return EpicorError(
                429,
                "Too many requests. Retry after the interval in the Retry-After header.",
                "Epicor.RESTApi.ErrorHandling.ApiException",
                headers={"Retry-After": str(self.retry_after)},
            )
        if self.license_exhausted_next > 0:
            self.license_exhausted_next -= 1
            return EpicorError(
                400,
                "Maximum users exceeded. No license is available for the WebService license "
                "type (LicenseAccessException).",
                "Ice.Common.LicenseAccessException",
            )
        if self.error_next > 0:
            self.error_next -= 1
            return EpicorError(500, "Internal server error (injected fault).", "System.Exception")
        if self.error_rate > 0 and self.rng.random() < self.error_rate:
            return EpicorError(503, "Service unavailable (injected fault).", "System.Exception")
        return None


@dataclass
class Counters:
    """Requests per route and status, for tests that assert what a client asked for."""

    by_route: dict[str, Counter[str]] = field(default_factory=dict)

    def add(self, route: str, status: int) -> None:
        self.by_route.setdefault(route, Counter())[str(status)] += 1

    def snapshot(self) -> dict[str, Any]:
        return {
            "total": sum(sum(c.values()) for c in self.by_route.values()),
            "by_route": {r: dict(c) for r, c in sorted(self.by_route.items())},
        }

    def reset(self) -> None:
        self.by_route.clear()
