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
# The Python types of parsed JSON that are valid for each JSON Schema type, by exact type
# (a bool is no integer); anything else goes to the compiled check.
_PY_TYPES: dict[str, frozenset[type]] = {
    "string": frozenset({str}),
    "integer": frozenset({int}),
    "number": frozenset({int, float, Decimal}),
    "boolean": frozenset({bool}),
    "null": frozenset({type(None)}),
    "object": frozenset({dict}),
    "array": frozenset({list}),
}
# Keywords that constrain nothing once types are checked: annotations, formats (not checked, as in
# the SDK's default), `multipleOf` (checked apart) and the Singer decimal's precision and scale.
_TYPE_ONLY_KEYS = frozenset(
    {"type", "format", "multipleOf", "precision", "scale", "title", "description", "default",
     "examples", "$comment", "deprecated", "readOnly", "writeOnly"}
)  # fmt: skip
_TOP_LEVEL_KEYS = frozenset(
    {"type", "properties", "required", "additionalProperties", "$schema", "title", "description"}
)
# Distinct type signatures remembered as valid per stream (a tap sends a handful).
_MAX_SIGNATURES = 4096


def _allowed_types(spec: Any) -> frozenset[type] | None:
    """The exact Python types valid for a property that only constrains types (None: others)."""
    if not isinstance(spec, dict) or not spec.keys() <= _TYPE_ONLY_KEYS or "type" not in spec:
        return None
    kinds = [spec["type"]] if isinstance(spec["type"], str) else spec["type"]
    if not isinstance(kinds, list) or not all(k in _PY_TYPES for k in kinds):
        return None
    return frozenset().union(*(_PY_TYPES[k] for k in kinds))


class _TypeSignatures:
    """Every record whose values' types fit a flat schema is valid: checked per type signature.

    A tap sends the same few layouts (field names in order, with a string or None here, a
    Decimal there) millions of times; a record's signature, its keys and its value types, is
    read at C speed and looked up among the signatures already judged. Properties with
    constraints beyond types are left to `rest`, a compiled check of those properties alone.
    """

    def __init__(self, schema: dict[str, Any]) -> None:
        properties = schema.get("properties") or {}
        self.allowed = {n: t for n, spec in properties.items() if (t := _allowed_types(spec))}
        self.required = frozenset(schema.get("required") or ())
        self.closed = schema.get("additionalProperties") is False
        self.known = frozenset(properties)
        self.good: set[tuple[tuple[str, ...], tuple[type, ...]]] = set()
        complex_ = {n: spec for n, spec in properties.items() if n not in self.allowed}
        self.rest: Any = None
        if complex_:
            self.rest = fastjsonschema.compile(
                json.loads(json.dumps({"type": "object", "properties": complex_}, default=str)),
                use_formats=False,
            )

    @staticmethod
    def applies(schema: dict[str, Any]) -> bool:
        """Whether the schema's top level is a plain object with properties (no combinators)."""
        extra = schema.get("additionalProperties", True)
        return (
            schema.keys() <= _TOP_LEVEL_KEYS
            and schema.get("type") in ("object", ["object"])
            and isinstance(schema.get("properties"), dict)
            and isinstance(extra, bool)
        )

    def _judge(self, keys: tuple[str, ...], types: tuple[type, ...]) -> bool:
        """JSON Schema's verdict on a signature: required keys there, each present value typed.

        An absent property is valid unless required; an unknown key only when the schema is
        open; constrained properties are for `rest`.
        """
        if not self.required <= set(keys):
            return False
        for key, kind in zip(keys, types, strict=True):
            allowed = self.allowed.get(key)
            if allowed is not None:
                if kind not in allowed:
                    return False
            elif self.closed and key not in self.known:
                return False
        return True

    def valid(self, record: dict[str, Any]) -> bool:
        """True when the record is surely valid; False: judge it the slow way."""
        signature = (tuple(record), tuple(map(type, record.values())))
        if signature not in self.good:
            if not self._judge(*signature):
                return False
            if len(self.good) < _MAX_SIGNATURES:
                self.good.add(signature)
        if self.rest is not None:
            try:
                self.rest(record)
            except Exception:
                return False
        return True


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
    per record); formats are not checked, as in the SDK's default. In front of both, a record
    whose value types fit a flat schema passes on its type signature (`_TypeSignatures`: 4.7 µs
    instead of 12.5 µs per 30-column record, benchmarks/RESULTS.md section 10).
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
        self._signatures: _TypeSignatures | None = None
        self._steps = [(name, spec["multipleOf"]) for name, spec in exact.items()]
        if _has_key(fast_schema, "multipleOf"):
            return  # nested multipleOf: the SDK's validator alone
        if _TypeSignatures.applies(schema):
            try:
                self._signatures = _TypeSignatures(fast_schema)
            except Exception:
                self._signatures = None
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

    def _surely_valid(self, record: dict[str, Any]) -> bool:
        """The type-signature check (and `multipleOf`) passed; False: judge the record below."""
        if self._signatures is None:
            return False
        try:
            return self._signatures.valid(record) and (
                not self._steps or self._multiples_ok(record)
            )
        except Exception:  # e.g. `%` of a 40-digit amount beyond the context's precision
            return False

    def _full_validate(self, record: dict[str, Any]) -> None:
        with decimal.localcontext(_WIDE):
            self._full.validate(record)

    @override
    def validate(self, record: dict[str, Any]) -> None:
        if self._surely_valid(record):
            return
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
