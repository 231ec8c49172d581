"""Meltano's unset nested settings, removed before the SDK reads the config.

Meltano passes a setting declared with a dotted name (`batch_config.encoding.format`) as a nested
key even when nobody set it, with the value null. Inside the SDK's own structures a null is not
"unset": `batch_config.encoding.format: null` fails validation and `stream_maps: {__else__: null}`
means "drop every stream that has no map" (a run that loads nothing). Hub definitions written
before this fix still declare those settings, so the plugin forgets such nulls itself.
"""

from __future__ import annotations

import logging
from typing import Any

# The SDK's built-in settings whose nested keys Meltano can pass as null.
NESTED_SDK_SETTINGS = ("batch_config", "faker_config", "stream_map_config")


def _without_nulls(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    kept = {k: _without_nulls(v) for k, v in value.items() if v is not None}
    return {k: v for k, v in kept.items() if v != {}}


def drop_unset_sdk_settings(config: dict[str, Any], logger: logging.Logger) -> dict[str, Any]:
    """`config` without the nulls an unset Meltano setting leaves in the SDK's nested settings.

    `stream_maps` is only touched when its sole entry is `__else__: null`: alone it would exclude
    every stream, which no one configures on purpose; next to real maps it keeps the SDK's
    meaning (only the mapped streams pass).
    """
    cleaned = dict(config)
    for name in NESTED_SDK_SETTINGS:
        if name in cleaned:
            value = _without_nulls(cleaned[name])
            if value in ({}, None):
                del cleaned[name]
            else:
                cleaned[name] = value
    if cleaned.get("stream_maps") == {"__else__": None}:
        logger.info(
            "Ignoring stream_maps {'__else__': null} alone (an unset Meltano setting): "
            "streams pass unmapped"
        )
        del cleaned["stream_maps"]
    elif cleaned.get("stream_maps") in ({}, None) and "stream_maps" in cleaned:
        del cleaned["stream_maps"]
    return cleaned


def drop_unset_defaulted(config: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """`config` without null (or, outside a list of choices, empty) settings that have a default.

    The SDK then fills in the schema's default, so the code reads `config[name]` and each default
    is stated once, in the settings schema.
    """
    properties = schema.get("properties", {})

    def unset(name: str, value: Any) -> bool:
        prop = properties.get(name, {})
        return "default" in prop and (value is None or (value == "" and "enum" not in prop))

    return {k: v for k, v in config.items() if not unset(k, v)}
