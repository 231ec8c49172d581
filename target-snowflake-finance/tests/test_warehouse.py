"""Issue point 7: the warehouse check at start, and how Snowflake errors are classified."""

from __future__ import annotations

import uuid

import pytest
from snowflake.connector import errors as sf_errors
from target_snowflake_finance.errors import (
    BatchLoadError,
    TargetConfigError,
    classify,
    with_retries,
)

PROPS = {"Id": {"type": "integer"}}


def suspended_warehouse(snowflake_sandbox) -> str:
    name = f"COLD_{uuid.uuid4().hex[:8].upper()}"
    snowflake_sandbox.query(
        f"CREATE WAREHOUSE {name} AUTO_RESUME = FALSE INITIALLY_SUSPENDED = TRUE"
    )
    return name


def test_suspended_warehouse_without_auto_resume_is_resumed(
    config, run_target, singer, snowflake_sandbox, table_rows, sql_sent
) -> None:
    config["warehouse"] = suspended_warehouse(snowflake_sandbox)
    run_target(config, [singer.schema("t", PROPS, ["Id"]), singer.record("t", {"Id": 1})])
    assert table_rows("T", "ID") == [(1,)]
    name = config["warehouse"]
    assert f'ALTER WAREHOUSE IF EXISTS "{name}" RESUME IF SUSPENDED' in sql_sent()
    [row] = snowflake_sandbox.query(f"SHOW WAREHOUSES LIKE '{name}'")
    assert row[1] == "STARTED"


def test_suspended_warehouse_fails_clearly_when_resume_is_off(
    config, run_target, singer, snowflake_sandbox, sql_sent
) -> None:
    config.update(warehouse=suspended_warehouse(snowflake_sandbox), resume_warehouse=False)
    with pytest.raises(TargetConfigError) as excinfo:
        run_target(config, [singer.schema("t", PROPS, ["Id"]), singer.record("t", {"Id": 1})])
    message = str(excinfo.value)
    assert "suspended" in message
    assert "AUTO_RESUME is off" in message
    assert "`resume_warehouse`" in message
    assert f"ALTER WAREHOUSE {config['warehouse']} RESUME" in message
    # The start-up checks go on reading (to name every problem at once) but change nothing.
    assert {s.split()[0] for s in sql_sent()} <= {"SHOW", "SELECT"}


@pytest.mark.parametrize(
    ("error", "transient", "reconnect"),
    [
        (
            sf_errors.ProgrammingError(
                msg="Warehouse 'W' is suspended. Use 'alter warehouse W resume;' command.",
                errno=608,
                sqlstate="57P03",
            ),
            True,
            False,
        ),
        (
            sf_errors.ProgrammingError(
                msg="No active warehouse selected in the current session.",
                errno=606,
                sqlstate="57P03",
            ),
            False,
            False,
        ),
        (
            sf_errors.ProgrammingError(
                msg="Authentication token has expired.  The user must authenticate again.",
                errno=390114,
                sqlstate="08001",
            ),
            True,
            True,
        ),
        (sf_errors.DatabaseError(msg="token expired", errno=390114), True, True),
        (sf_errors.OperationalError(msg="Failed to connect to DB", errno=250001), True, True),
        (sf_errors.ServiceUnavailableError(), True, True),
        (sf_errors.GatewayTimeoutError(), True, True),
        (ConnectionResetError("Connection reset by peer"), True, True),
        (TimeoutError("timed out"), True, True),
        (
            sf_errors.ProgrammingError(
                msg="Object 'X' does not exist or not authorized.", errno=2003, sqlstate="42S02"
            ),
            False,
            False,
        ),
    ],
)
def test_errors_are_classified(error: BaseException, transient: bool, reconnect: bool) -> None:
    verdict = classify(error)
    assert (verdict.transient, verdict.reconnect) == (transient, reconnect)


def test_606_names_the_setting_to_fix() -> None:
    verdict = classify(sf_errors.ProgrammingError(msg="No active warehouse", errno=606))
    assert "`warehouse`" in verdict.reason
    assert "GRANT USAGE" in verdict.reason


def test_608_asks_for_a_warehouse_resume() -> None:
    assert classify(sf_errors.ProgrammingError(msg="suspended", errno=608)).resume_warehouse


def test_retries_back_off_and_give_up() -> None:
    calls, waits, prepared = [], [], []

    def flaky(attempt: int) -> str:
        calls.append(attempt)
        if attempt < 3:
            raise sf_errors.OperationalError(msg="connection dropped", errno=250001)
        return "done"

    result = with_retries(
        flaky,
        max_retries=3,
        on_transient=lambda exc, verdict, n: prepared.append(verdict.reconnect),
        sleep=waits.append,
    )
    assert result == ("done", 3)
    assert prepared == [True, True]
    assert waits[1] > waits[0] * 1.2  # exponential

    def broken(attempt: int) -> str:
        raise sf_errors.OperationalError(msg="down", errno=250001)

    with pytest.raises(sf_errors.OperationalError):
        with_retries(broken, max_retries=2, on_transient=lambda *a: None, sleep=waits.append)

    def wrong(attempt: int) -> str:
        calls.append(attempt)
        raise sf_errors.ProgrammingError(msg="syntax error", errno=1003)

    calls.clear()
    with pytest.raises(sf_errors.ProgrammingError):
        with_retries(wrong, max_retries=5, on_transient=lambda *a: None, sleep=waits.append)
    assert calls == [1]  # permanent errors are not retried


def test_000606_is_not_retried_and_names_the_fix(
    config, run_target, singer, snowflake_sandbox, schema_name, table_rows
) -> None:
    snowflake_sandbox.fail_next(
        rf'^MERGE INTO "SANDBOX_DB"\."{schema_name}"', times=1, code="000606"
    )
    with pytest.raises(BatchLoadError) as excinfo:
        run_target(config, [singer.schema("t", PROPS, ["Id"]), singer.record("t", {"Id": 1})])
    assert "`warehouse`" in str(excinfo.value)
    assert table_rows("_SDC_LOAD_AUDIT", "STATUS, ATTEMPTS") == [("failed", 1)]
