"""Epicor's JSON error body, raised anywhere in the emulator and rendered in one place."""

from __future__ import annotations

from typing import Any


class EpicorError(Exception):
    """An error answered as `{HttpStatus, ReasonPhrase, ErrorMessage, ErrorType, ErrorDetails}`."""

    def __init__(
        self,
        status: int,
        message: str,
        error_type: str = "Ice.Common.BusinessObjectException",
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type
        self.details = details or []
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """The JSON body Epicor sends (reference §6.1)."""
        return {
            "HttpStatus": self.status,
            "ReasonPhrase": "REST API Exception",
            "ErrorMessage": self.message,
            "ErrorType": self.error_type,
            "ErrorDetails": self.details
            or [{"Message": self.message, "Type": "Error", "Table": "", "Field": ""}],
            "CorrelationId": "",
        }


def odata_error(message: str) -> EpicorError:
    """A malformed or unknown OData query option (400)."""
    return EpicorError(400, message, "Microsoft.OData.ODataException")


def unknown_property(name: str, type_name: str) -> EpicorError:
    """The exact message Epicor returns for a misspelt or mis-cased property (seen live)."""
    return odata_error(f"Could not find a property named '{name}' on type '{type_name}'.")
