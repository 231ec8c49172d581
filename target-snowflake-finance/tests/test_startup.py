"""Issue 12 point 5: start-up checks run even with no input, and a failed login is one line."""

from __future__ import annotations

from typing import Any


def unreachable(config: dict[str, Any]) -> None:
    # Password auth: with a key the connector retries a JWT login for its full login timeout.
    config.update(host="127.0.0.1", port=1, auth_method="password", password="sandbox-password")


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "ERROR" in line or "Traceback" in line]


def test_an_unreachable_host_is_one_line_naming_it(config, target_cli, singer) -> None:
    unreachable(config)
    done = target_cli(
        config,
        singer.lines([singer.schema("payments", {"Id": {"type": "integer"}}, ["Id"])]),
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    [line] = error_lines(done.stderr)
    assert "cannot reach Snowflake at host 127.0.0.1:1" in line
    assert "Connection refused" in line
    assert "`host`/`port`" in line
    assert "sandbox-password" not in done.stderr


def test_no_input_still_checks_the_connection(config, target_cli) -> None:
    unreachable(config)
    done = target_cli(config)
    assert done.returncode == 1
    assert "cannot reach Snowflake" in done.stderr
    assert "Traceback" not in done.stderr


def test_no_input_still_checks_the_warehouse(config, target_cli, snowflake_sandbox) -> None:
    snowflake_sandbox.query("CREATE WAREHOUSE IF NOT EXISTS PARKED_NO_INPUT_WH AUTO_RESUME = FALSE")
    snowflake_sandbox.query("ALTER WAREHOUSE PARKED_NO_INPUT_WH SUSPEND")
    config.update(warehouse="PARKED_NO_INPUT_WH", resume_warehouse=False)
    done = target_cli(config)
    assert done.returncode == 1
    assert "PARKED_NO_INPUT_WH is suspended" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_state_only_input_is_checked_before_the_state_passes(config, target_cli, singer) -> None:
    unreachable(config)
    done = target_cli(config, singer.lines([singer.state({"bookmarks": {"a": 1}})]))
    assert done.returncode == 1
    assert done.stdout == ""
