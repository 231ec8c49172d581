"""Epicor auth: Basic or Bearer plus `x-api-key` on v2 calls; token issuers (reference §4, §9)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field

from finance_sandbox.epicor.errors import EpicorError

USERNAME = "integration"
PASSWORD = "sandbox-password"
API_KEY = "sandbox-api-key"
CLIENT_ID = "sandbox-client"
CLIENT_SECRET = "sandbox-secret"
SCOPE = "epicor_erp"

BAD_CREDENTIALS = "Invalid username or password"
BAD_API_KEY = "Invalid API Key"
ACCESS_DENIED = "Access denied"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def unauthorized(message: str, detail: str = "") -> EpicorError:
    """401 with one of Epicor's three messages; the detail never echoes a secret."""
    details = [{"Message": detail or message, "Type": "Error", "Table": "", "Field": ""}]
    return EpicorError(
        401,
        message,
        "Epicor.RESTApi.ErrorHandling.ApiException",
        details,
        headers={"WWW-Authenticate": 'Basic realm="Epicor"'},
    )


@dataclass
class Auth:
    """Issues HS256 JWTs like Epicor's Token Resource (string `exp`/`iat`) and checks requests."""

    token_ttl: int = 3600
    sign_key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    issued: int = 0
    expired_upto: int = 0
    _serial: dict[str, int] = field(default_factory=dict)

    def issue(self, username: str) -> str:
        """A bearer token valid for `token_ttl` seconds."""
        now = int(time.time())
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        payload = _b64(
            json.dumps(
                {
                    "exp": str(now + self.token_ttl),
                    "iat": str(now),
                    "iss": "epicor",
                    "aud": "epicor",
                    "username": username,
                    "jti": secrets.token_hex(8),
                }
            ).encode()
        )
        signing = f"{header}.{payload}"
        sig = _b64(hmac.new(self.sign_key, signing.encode(), hashlib.sha256).digest())
        token = f"{signing}.{sig}"
        self.issued += 1
        self._serial[token] = self.issued
        return token

    def expire_all(self) -> None:
        """Every token issued so far stops working (`POST /_sandbox/tokens/expire`)."""
        self.expired_upto = self.issued

    def check_bearer(self, token: str) -> str:
        """Username of a valid bearer token."""
        parts = token.split(".")
        if len(parts) != 3:
            raise unauthorized(BAD_CREDENTIALS, "The bearer token is malformed.")
        expected = _b64(
            hmac.new(self.sign_key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
        )
        if not hmac.compare_digest(expected, parts[2]):
            raise unauthorized(BAD_CREDENTIALS, "The bearer token signature is not valid.")
        try:
            claims = json.loads(_unb64(parts[1]))
            exp = int(claims["exp"])
        except (ValueError, KeyError, TypeError) as exc:
            raise unauthorized(BAD_CREDENTIALS, "The bearer token is malformed.") from exc
        if exp <= time.time() or self._serial.get(token, 0) <= self.expired_upto:
            raise unauthorized(BAD_CREDENTIALS, "The bearer token has expired.")
        return str(claims.get("username", ""))

    @staticmethod
    def check_password(username: str, password: str) -> str:
        if not (
            hmac.compare_digest(username.lower(), USERNAME)
            and hmac.compare_digest(password, PASSWORD)
        ):
            raise unauthorized(BAD_CREDENTIALS)
        return USERNAME

    def user_from_authorization(self, header: str | None) -> str:
        """Basic or Bearer `Authorization` header -> username."""
        if not header:
            raise unauthorized(BAD_CREDENTIALS, "No credentials were supplied.")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(value.strip()).decode("utf-8").partition(":")
            except (ValueError, UnicodeDecodeError) as exc:
                raise unauthorized(BAD_CREDENTIALS, "Malformed Basic credentials.") from exc
            return self.check_password(user, password)
        if scheme.lower() == "bearer":
            return self.check_bearer(value.strip())
        raise unauthorized(BAD_CREDENTIALS, f"Unsupported authorization scheme '{scheme}'.")

    @staticmethod
    def check_api_key(key: str | None) -> None:
        if not key or not hmac.compare_digest(key, API_KEY):
            raise unauthorized(BAD_API_KEY)
