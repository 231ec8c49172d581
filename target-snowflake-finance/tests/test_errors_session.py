"""Expired sessions are renewed or reconnected; a refused login is one line naming the settings.

Under snowflake-connector-python 5 a session expired mid-run (390112) is renewed by the
connector itself; a master token past renewal (390114) raises `ReauthenticationRequest`, a
`ProgrammingError` today and an `OperationalError` in a later major release, so the target
sorts it by code and class, never by the base class alone.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from finance_sandbox.testing.snowflake import generate_encrypted_key
from snowflake.connector import errors as sf_errors
from target_snowflake_finance.errors import classify

PROPS = {"InvoiceNum": {"type": "integer"}, "Amount": {"type": "number", "multipleOf": 0.01}}


def invoices(singer: Any, numbers: range) -> str:
    return singer.lines(
        [singer.schema("ap_invoices", PROPS, ["InvoiceNum"])]
        + [singer.record("ap_invoices", {"InvoiceNum": n, "Amount": n + 0.25}) for n in numbers]
        + [singer.state({"bookmarks": {"ap_invoices": numbers[-1]}})]
    )


@pytest.fixture
def faults(snowflake_sandbox: Any) -> Iterator[Any]:
    yield snowflake_sandbox
    snowflake_sandbox.clear_faults()
    snowflake_sandbox.clear_users()


@pytest.mark.parametrize(
    ("code", "attempts"),
    [
        # The connector renews the session with its master token and repeats the statement.
        ("390112", 1),
        # Past renewal: the target opens a new session and retries the batch.
        ("390114", 2),
    ],
)
def test_an_expired_session_mid_load_loses_nothing_and_prints_no_warning(
    config, singer, faults, schema_name, table_rows, target_cli, code, attempts
) -> None:
    faults.fail_next(rf'^MERGE INTO "SANDBOX_DB"\."{schema_name}"', times=1, code=code)
    done = target_cli(config, invoices(singer, range(1, 6)))
    assert done.returncode == 0, done.stderr[-3000:]
    assert table_rows("AP_INVOICES", "INVOICENUM") == [(n,) for n in range(1, 6)]
    assert table_rows("_SDC_LOAD_AUDIT", "STATUS, ATTEMPTS, ROWS_LOADED") == [
        ("committed", attempts, 5)
    ]
    assert json.loads(done.stdout.splitlines()[-1]) == {"bookmarks": {"ap_invoices": 5}}
    # The connector's advice about ReauthenticationRequest's future base class is for code
    # that catches ProgrammingError; the target does not, and a user has nothing to do.
    assert "FutureWarning" not in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("cls", [sf_errors.ProgrammingError, sf_errors.OperationalError])
@pytest.mark.parametrize(
    ("errno", "transient"), [(390112, True), (390114, True), (390100, False), (390144, False)]
)
def test_session_and_login_codes_are_sorted_by_code_in_either_class(cls, errno, transient) -> None:
    verdict = classify(cls(msg="refused or expired", errno=errno))
    assert (verdict.transient, verdict.reconnect) == (transient, transient), verdict


def test_reauthentication_request_reconnects_whatever_its_code() -> None:
    # Connector 5 raises it when the session cannot be renewed, with the server's code or
    # the driver's own (e.g. 250001 when the renewal itself failed).
    verdict = classify(sf_errors.ReauthenticationRequest(msg="renew failed", errno=250001))
    assert (verdict.transient, verdict.reconnect) == (True, True), verdict


def test_a_failed_session_renewal_opens_a_new_session() -> None:
    # What connector 5 raises when renewing the session failed (e.g. the network dropped).
    failed = sf_errors.DatabaseError(
        msg="Failed to refresh session", errno=250001, sqlstate="08001"
    )
    verdict = classify(failed)
    assert (verdict.transient, verdict.reconnect) == (True, True), verdict


@pytest.mark.parametrize("who", ["wrong key", "unknown user"])
def test_a_refused_login_is_one_line_naming_user_and_private_key(
    config, singer, faults, target_cli, who
) -> None:
    if who == "wrong key":
        # The user exists with another key than the one in `private_key`.
        other = generate_encrypted_key("other")
        from cryptography.hazmat.primitives import serialization

        public = (
            serialization.load_pem_private_key(other.encode(), b"other")
            .public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )
        faults.add_user(config["user"], public)
    else:
        faults.add_user("SOMEONE_ELSE", faults.public_key_pem())
    done = target_cli(config, invoices(singer, range(1, 3)))
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if "ERROR" in line or "CRITICAL" in line]
    assert len(lines) == 1, done.stderr[-3000:]
    [line] = lines
    assert "refused the login of user LOADER" in line
    assert "390144" in line
    assert "`user`" in line
    assert "`private_key`" in line
    assert config["private_key_passphrase"] not in done.stderr
    assert "PRIVATE KEY" not in done.stderr
    assert not done.stdout.strip()  # no STATE passed on


def test_the_right_key_logs_in_once_users_are_checked(
    config, singer, faults, table_rows, target_cli
) -> None:
    # The check refuses only what Snowflake would refuse.
    faults.add_user(config["user"], faults.public_key_pem())
    done = target_cli(config, invoices(singer, range(1, 3)))
    assert done.returncode == 0, done.stderr[-3000:]
    assert table_rows("AP_INVOICES", "INVOICENUM") == [(1,), (2,)]
