"""The key a table was loaded with, kept in the table's comment so a later run can compare."""

from __future__ import annotations

import json

MARKER = "target-snowflake-finance key_properties: "


def keys_comment(keys: list[str]) -> str:
    """A SQL string literal recording the keys (Snowflake escapes: '' and \\\\)."""
    text = MARKER + json.dumps(keys)
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def recorded_keys(comment: str | None) -> list[str] | None:
    """The keys a comment of ours records; None for any other comment (a user's table)."""
    if not comment or not comment.startswith(MARKER):
        return None
    try:
        keys = json.loads(comment[len(MARKER) :])
    except ValueError:
        return None
    if isinstance(keys, list) and all(isinstance(k, str) for k in keys):
        return keys
    return None


def same_keys(a: list[str], b: list[str]) -> bool:
    """Keys are a set: the MERGE matches on all of them, in any order."""
    return sorted(a) == sorted(b)
