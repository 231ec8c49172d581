"""Input the target refuses: one line naming the stream (or line) and the fix, no traceback."""

from __future__ import annotations

from typing import Any

import pytest

PROPS: dict[str, Any] = {
    "Id": {"type": "integer"},
    "Amount": {
        "type": ["string", "null"],
        "format": "x-singer.decimal",
        "precision": 18,
        "scale": 2,
    },
}


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "| ERROR" in line or "| CRITICAL" in line]


def schema(stream: str, props: Any = None, keys: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "SCHEMA",
        "stream": stream,
        "schema": {"type": "object", "properties": PROPS if props is None else props},
        "key_properties": ["Id"] if keys is None else keys,
    }


def record(stream: str, **values: Any) -> dict[str, Any]:
    return {"type": "RECORD", "stream": stream, "record": values}


REFUSED = {
    "record-before-schema": ([record("payments", Id=1)], ["'payments'", "SCHEMA"]),
    "missing-key-property": (
        [schema("payments"), record("payments", Amount="1.00")],
        ["'payments'", "Id"],
    ),
    "invalid-schema": (
        [schema("payments", {"Id": {"type": "integr"}})],
        ["'payments'", "schema"],
    ),
    "schema-without-properties": (
        [
            {
                "type": "SCHEMA",
                "stream": "payments",
                "schema": {"type": "object"},
                "key_properties": [],
            }
        ],
        ["'payments'", "properties"],
    ),
    "not-json": ([schema("payments")], ["line 2", "JSON"]),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_a_refusal_is_one_line_naming_stream_and_fix(case, config, singer, target_cli) -> None:
    messages, needles = REFUSED[case]
    text = singer.lines(messages) + ("{not json\n" if case == "not-json" else "")
    text += singer.lines([singer.state({"bookmarks": {"payments": {"x": 1}}})])
    done = target_cli(config, text)
    assert done.returncode == 1, done.stderr[-2000:]
    assert "Traceback" not in done.stderr, done.stderr[-4000:]
    [line] = error_lines(done.stderr)
    for needle in needles:
        assert needle in line, line
    assert "STATE" not in done.stdout


def test_a_quarantined_record_logs_one_line_and_the_run_succeeds(
    config, singer, target_cli
) -> None:
    config["on_invalid_record"] = "quarantine"
    done = target_cli(
        config,
        singer.lines(
            [
                schema("payments"),
                record("payments", Id=1, Amount="1.00"),
                record("payments", Id=2, Amount="1.001"),
                record("payments", Id=3, Amount="not a number"),
                singer.state({"bookmarks": {"payments": {"x": 1}}}),
            ]
        ),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-4000:]
    quarantined = [line for line in done.stderr.splitlines() if "quarantined" in line]
    assert len(quarantined) == 2, done.stderr[-3000:]
    assert "Id=2" in quarantined[0]
    assert "Id=3" in quarantined[1]
    assert "Amount" in quarantined[1]
    assert '"x": 1' in done.stdout


LINE_PROPS: dict[str, Any] = {**PROPS, "Line": {"type": "integer"}}


def test_key_properties_changing_for_a_loaded_table_is_refused_unless_overwrite(
    config, run_target, singer, table_rows
) -> None:
    from target_snowflake_finance.errors import TargetConfigError

    def load(keys: list[str], *rows: tuple[int, int, str]) -> None:
        run_target(
            config,
            [
                schema("payments", LINE_PROPS, keys),
                *(record("payments", Id=i, Line=n, Amount=a) for i, n, a in rows),
            ],
        )

    load(["Id"], (1, 1, "1.00"), (2, 1, "2.00"))
    with pytest.raises(TargetConfigError) as excinfo:
        load(["Id", "Line"], (1, 2, "9.00"))
    message = str(excinfo.value)
    assert "'payments'" in message
    assert "['Id', 'Line']" in message
    assert "['Id']" in message
    assert "overwrite" in message
    assert table_rows("PAYMENTS", "ID, LINE, CAST(AMOUNT AS VARCHAR)") == [
        (1, 1, "1.00"),
        (2, 1, "2.00"),
    ]
    # The same keys in another order are the same key.
    load(["Id"], (2, 1, "2.50"))
    config["load_method"] = "overwrite"
    load(["Line", "Id"], (1, 1, "1.00"), (1, 2, "9.00"))
    config["load_method"] = "upsert"
    load(["Id", "Line"], (1, 2, "9.50"))
    assert table_rows("PAYMENTS", "ID, LINE, CAST(AMOUNT AS VARCHAR)", "1, 2") == [
        (1, 1, "1.00"),
        (1, 2, "9.50"),
    ]


def test_key_properties_changing_mid_run_is_refused(config, run_target, singer) -> None:
    from target_snowflake_finance.errors import TargetConfigError

    with pytest.raises(TargetConfigError, match=r"now has key_properties \['Id', 'Line'\]"):
        run_target(
            config,
            [
                schema("payments", LINE_PROPS, ["Id"]),
                record("payments", Id=1, Line=1, Amount="1.00"),
                schema("payments", LINE_PROPS, ["Id", "Line"]),
                record("payments", Id=1, Line=2, Amount="2.00"),
            ],
        )


@pytest.mark.parametrize("how", ["case", "table_mapping"])
def test_two_streams_into_one_table_are_refused(how, config, run_target, singer) -> None:
    from target_snowflake_finance.errors import TargetConfigError

    first, second = ("pay", "PAY") if how == "case" else ("payments", "refunds")
    if how == "table_mapping":
        config["table_mapping"] = {"refunds": {"table": "payments"}}
    with pytest.raises(TargetConfigError) as excinfo:
        run_target(
            config,
            [
                schema(first),
                record(first, Id=1, Amount="1.00"),
                schema(second),
                record(second, Id=1, Amount="2.00"),
            ],
        )
    message = str(excinfo.value)
    assert f"streams {first!r} and {second!r} both load into table" in message
    assert "table_mapping" in message
