"""Record validation as the SDK does it, with a compiled fast path for the records that pass."""

from __future__ import annotations

import copy
import decimal
import json
from decimal import Decimal
from numbers import Number
from typing import Any

import fastjsonschema
from singer_sdk.sinks.core import BaseJSONSchemaValidator, JSONSchemaValidator
from typing_extensions import override

# jsonschema checks `multipleOf` of a Decimal with `%`, which fails (DivisionImpossible) once the
# quotient has more digits than the context's precision: 28 by default, fewer than a NUMBER(38,s)
# amount. Whether such a number fits its column is decided when it is converted (types.py).
_WIDE = decimal.Context(prec=200)
# Checked before the slow `numbers.Number` ABC; bool is an int but not a JSON Schema number.
_PLAIN_NUMBERS = (int, float, Decimal)


def _has_key(node: Any, key: str) -> bool:
    if isinstance(node, dict):
        return key in node or any(_has_key(v, key) for v in node.values())
    if isinstance(node, list):
        return any(_has_key(v, key) for v in node)
    return False


class FastJSONSchemaValidator(BaseJSONSchemaValidator):
    """The SDK's jsonschema validator, behind a fastjsonschema check of the same schema.

    The SDK's per-record jsonschema validation was ~80% of the target's CPU in a profile
    (benchmarks/RESULTS.md). A record the compiled check accepts is valid; anything else (a
    rejection, or an error such as a Decimal `multipleOf` the compiled code cannot compute) goes
    to the SDK's validator, so invalid records fail exactly as before, with the same message.
    `multipleOf` of top-level properties is checked with jsonschema's own arithmetic
    (fastjsonschema computes it in floats; running jsonschema on those properties cost 15 µs
    per record); formats are not checked, as in the SDK's default.
    """

    def __init__(self, schema: dict[str, Any]) -> None:
        """Compile the fast check; keep the SDK's validator for the verdict on failures."""
        super().__init__(schema)
        self._full = JSONSchemaValidator(schema)
        properties = schema.get("properties") or {}
        exact = {k: v for k, v in properties.items() if isinstance(v, dict) and "multipleOf" in v}
        fast_schema = copy.deepcopy(schema)
        for name in exact:
            fast_schema["properties"][name].pop("multipleOf")
        self._fast: Any = None
        self._steps = [(name, spec["multipleOf"]) for name, spec in exact.items()]
        if _has_key(fast_schema, "multipleOf"):
            return  # nested multipleOf: the SDK's validator alone
        try:
            self._fast = fastjsonschema.compile(
                json.loads(json.dumps(fast_schema, default=str)), use_formats=False
            )
        except Exception:
            self._fast = None

    def _multiples_ok(self, record: dict[str, Any]) -> bool:
        """jsonschema's `multipleOf` (keywords.multipleOf) on the top-level numbers, or False."""
        for name, step in self._steps:
            value: Any = record.get(name)
            kind = type(value)
            if kind not in _PLAIN_NUMBERS and (kind is bool or not isinstance(value, Number)):
                continue  # not a number: multipleOf does not apply (types are checked above)
            number: Any = value
            if isinstance(step, float):
                quotient = number / step
                if int(quotient) != quotient:
                    return False
            elif number % step:
                return False
        return True

    def _full_validate(self, record: dict[str, Any]) -> None:
        with decimal.localcontext(_WIDE):
            self._full.validate(record)

    @override
    def validate(self, record: dict[str, Any]) -> None:
        if self._fast is not None:
            try:
                self._fast(record)
                if self._steps and not self._multiples_ok(record):
                    self._full_validate(record)
            except Exception:
                self._full_validate(record)
            return
        self._full_validate(record)


def nullable_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with every top-level field allowed to be null or absent.

    A deletion tombstone carries only its keys and `_sdc_deleted_at`; its other fields are
    null even where the schema forbids it, and only what it does carry must be valid.
    """
    relaxed = copy.deepcopy(schema)
    relaxed.pop("required", None)
    for prop in (relaxed.get("properties") or {}).values():
        if not isinstance(prop, dict):
            continue
        kind = prop.get("type")
        if isinstance(kind, str) and kind != "null":
            prop["type"] = [kind, "null"]
        elif isinstance(kind, list) and "null" not in kind:
            prop["type"] = [*kind, "null"]
        for key in ("anyOf", "oneOf"):
            if isinstance(prop.get(key), list):
                prop[key] = [*prop[key], {"type": "null"}]
        if isinstance(prop.get("enum"), list) and None not in prop["enum"]:
            prop["enum"] = [*prop["enum"], None]
    return relaxed
