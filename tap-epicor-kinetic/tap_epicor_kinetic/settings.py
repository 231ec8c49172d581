"""The tap's settings: their JSON schema, each default stated here and nowhere else.

`--about` shows it (scripts/plugin_docs.py builds the hub definition and the READMEs' settings
tables from it), the SDK validates the config against it, and an unset setting takes its
default from it (unset_settings.py); services.py turns the values into what streams use.
"""

from __future__ import annotations

import typing as t

from singer_sdk import typing as th

from tap_epicor_kinetic.auth import AUTH_METHODS

CONFIG_SCHEMA: dict[str, t.Any] = th.PropertiesList(
    th.Property(
        "base_url",
        th.StringType,
        required=True,
        title="Base URL",
        description=(
            "Server root including the instance, e.g. https://erp.example.com/ERP11PROD "
            "(the tap appends /api/v2/odata/{company}/…; a trailing /api/v2 or slash is "
            "ignored)."
        ),
        examples=["https://erp.example.com/ERP11PROD"],
    ),
    th.Property(
        "company",
        th.StringType,
        description=(
            "Epicor company ID used in the v2 URL, e.g. EPIC06 (required unless companies is set)."
        ),
    ),
    th.Property(
        "companies",
        th.ArrayType(th.StringType),
        description=(
            "Several company IDs to extract (overrides company); each company is its own "
            "state partition with its own bookmark."
        ),
    ),
    th.Property(
        "api_key",
        th.StringType,
        required=True,
        secret=True,
        description="REST v2 API key, sent as the x-api-key header on every request.",
    ),
    th.Property(
        "auth_method",
        th.StringType,
        default="basic",
        allowed_values=list(AUTH_METHODS),
        description=(
            "basic: HTTP Basic on every call; token: Token Resource Service "
            "(POST {base_url}/TokenResource.svc/ with the username/password, then Bearer); "
            "oauth2: client credentials at token_url, then Bearer. Bearer tokens are "
            "refreshed before they expire and once more on a 401."
        ),
    ),
    th.Property("username", th.StringType, description="Epicor user (basic and token)."),
    th.Property(
        "password",
        th.StringType,
        secret=True,
        description="Password of the Epicor user (basic and token).",
    ),
    th.Property("client_id", th.StringType, description="OAuth2 client ID (oauth2)."),
    th.Property(
        "client_secret",
        th.StringType,
        secret=True,
        description="OAuth2 client secret (oauth2).",
    ),
    th.Property(
        "token_url",
        th.StringType,
        default="https://login.epicor.com/connect/token",
        description="OAuth2 token endpoint (oauth2).",
    ),
    th.Property(
        "scope",
        th.StringType,
        default="epicor_erp",
        description="OAuth2 scope requested with client credentials (oauth2).",
    ),
    th.Property(
        "start_date",
        th.DateTimeType,
        description=(
            "Initial watermark for date-time replication keys (a bookmark, once saved, "
            "wins). A value without offset is read in server_timezone."
        ),
    ),
    th.Property(
        "page_size",
        th.IntegerType,
        default=100,
        description=(
            "$top per request. A server may return fewer rows (a row cap); paging continues "
            "after the last row received and stops on an empty page."
        ),
    ),
    th.Property(
        "max_concurrent_requests",
        th.IntegerType(minimum=1),
        default=1,
        description=(
            "Requests in flight at once for the pages of a stream (records and state stay "
            "in order). Every Epicor REST call claims a license seat while it runs, and "
            "when the WebService seats run out Epicor fails calls or slows them down for "
            "every integration, so the default keeps one seat; even then the next page is "
            "requested while the current one is turned into records. Raise it (e.g. 4) "
            "when pages are slow and the license pool has room: with 100 ms per page of "
            "100 invoice headers, 4 gives about 3.7x the rows per second. On 429 or a "
            "LicenseAccessException the tap halves the number in use and grows it back by "
            "one after 20 clean answers."
        ),
    ),
    th.Property(
        "server_timezone",
        th.StringType,
        default="UTC",
        description=(
            "IANA time zone in which Epicor's offset-less datetimes are read, e.g. "
            "America/Chicago. Records carry datetimes with this zone's offset."
        ),
    ),
    th.Property(
        "replication_keys",
        th.ObjectType(additional_properties=th.StringType),
        description=(
            "Replication key per stream, overriding SysRevID (the rowversion every Kinetic "
            'table has), e.g. {"ap_invoices": "UpdatedOn"} where the instance adds it. When '
            "the entity's $metadata lacks the key, SysRevID is used and logged. Child "
            "streams follow their parent."
        ),
    ),
    th.Property(
        "late_commit_lookback_minutes",
        th.NumberType(minimum=0),
        default=15,
        description=(
            "How long an Epicor transaction may stay open (minutes). SysRevID and UpdatedOn "
            "are taken when a row is written, not when its transaction commits, so a row "
            "can appear below a bookmark already saved. Each run therefore starts from the "
            "newest bookmark saved at least this long before the previous run started "
            "(date-time keys: this long before the bookmark); rows read twice are merged "
            "by the target. 0 turns this off."
        ),
    ),
    th.Property(
        "request_timeout",
        th.IntegerType,
        default=120,
        description="Seconds to wait for a response before retrying.",
    ),
    th.Property(
        "max_retries",
        th.IntegerType,
        default=5,
        description=(
            "Retries of a request after 429, 5xx, timeouts, connection resets and 400 "
            "LicenseAccessException (exponential backoff with jitter, Retry-After honoured)."
        ),
    ),
    th.Property(
        "retry_backoff_seconds",
        th.NumberType,
        default=1.0,
        description="First backoff wait in seconds; it doubles per retry, capped at 60 s.",
    ),
    th.Property(
        "verify_ssl",
        th.BooleanType,
        default=True,
        description="Verify the server's TLS certificate (keep on; use ca_bundle instead).",
    ),
    th.Property(
        "ca_bundle",
        th.StringType,
        description="Path to a PEM CA bundle for on-prem servers with an internal CA.",
    ),
    th.Property(
        "baq_streams",
        th.ArrayType(
            th.ObjectType(
                th.Property("name", th.StringType, required=True, description="Stream name."),
                th.Property(
                    "baq_id",
                    th.StringType,
                    required=True,
                    description="BAQ ID, e.g. FIN-APAging.",
                ),
                th.Property(
                    "primary_keys",
                    th.ArrayType(th.StringType),
                    description="BAQ columns that identify a row, e.g. APInvHed_InvoiceNum.",
                ),
                th.Property(
                    "replication_key",
                    th.StringType,
                    description="BAQ column to replicate on, e.g. APInvHed_UpdatedOn.",
                ),
            )
        ),
        description=(
            "Extra streams from BAQs (BaqSvc/{baq_id}/Data): [{name, baq_id, primary_keys, "
            "replication_key?}]; incremental when replication_key is given."
        ),
    ),
    th.Property(
        "include_ud_fields",
        th.BooleanType,
        default=False,
        description=(
            "Always extract the instance's user-defined *_c columns found in $metadata "
            "(catalog inclusion automatic, whatever a select list names). Without it they "
            "are listed like every other column and extracted only when selected."
        ),
    ),
).to_dict()
