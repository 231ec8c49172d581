"""Users whose logins the local Snowflake checks, so that a refused login can be tested.

fakesnow lets every login in. Once a test registers a user with its public key
(`POST /_sandbox/users`), logins are answered as Snowflake answers them: a key-pair login
whose JWT is not signed by that user's key, or names a user that does not exist, gets 390144
("JWT token is invalid."); a password login of an unknown user gets 390100. With no user
registered, every login passes as before.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

# Snowflake's codes, messages and SQL states for a refused login.
JWT_INVALID = ("390144", "JWT token is invalid.", "08004")
WRONG_PASSWORD = ("390100", "Incorrect username or password was specified.", "08004")


def _b64url(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def jwt_signed_by(token: str, key: rsa.RSAPublicKey) -> bool:
    """True when `token` is an RS256 JWT whose signature `key` verifies."""
    try:
        header, payload, signature = token.split(".")
        if json.loads(_b64url(header)).get("alg") != "RS256":
            return False
        key.verify(
            _b64url(signature),
            f"{header}.{payload}".encode(),
            padding.PKCS1v15(),
            hashes.SHA256(),
        )
    except (ValueError, binascii.Error, InvalidSignature):
        return False
    return True


class UserRegistry:
    """Registered users and their RSA public keys (name upper-cased, as Snowflake stores it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: dict[str, rsa.RSAPublicKey] = {}

    def add(self, name: str, public_key_pem: str) -> None:
        key = serialization.load_pem_public_key(public_key_pem.encode())
        if not isinstance(key, rsa.RSAPublicKey):
            raise ValueError("rsa_public_key must be an RSA public key (PEM)")
        with self._lock:
            self._keys[name.upper()] = key

    def clear(self) -> None:
        with self._lock:
            self._keys.clear()

    def refusal(self, login_data: dict[str, Any]) -> tuple[str, str, str] | None:
        """(code, message, sqlstate) when Snowflake would refuse this login, else None."""
        with self._lock:
            if not self._keys:
                return None
            user = str(login_data.get("LOGIN_NAME") or "").upper()
            key = self._keys.get(user)
        if str(login_data.get("AUTHENTICATOR") or "").upper() == "SNOWFLAKE_JWT":
            token = str(login_data.get("TOKEN") or "")
            return None if key is not None and jwt_signed_by(token, key) else JWT_INVALID
        return None if key is not None else WRONG_PASSWORD
