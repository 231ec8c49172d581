"""Stream schemas: the bundled curated JSON files, and JSON Schema for `$metadata` properties."""

from __future__ import annotations

import copy
import json
import typing as t
from functools import cache
from importlib import resources

from tap_epicor_kinetic import schemas

if t.TYPE_CHECKING:
    from tap_epicor_kinetic.odata import EntityType, Property

UD_SUFFIX = "_c"
_INTEGER_TYPES = {"Edm.Int16", "Edm.Int32", "Edm.Int64", "Edm.Byte", "Edm.SByte"}
_DATETIME_TYPES = {"Edm.DateTimeOffset", "Edm.DateTime"}


@cache
def _bundled(name: str) -> dict[str, t.Any]:
    text = resources.files(schemas).joinpath(f"{name}.json").read_text(encoding="utf-8")
    return t.cast("dict[str, t.Any]", json.loads(text))


def bundled_schema(name: str) -> dict[str, t.Any]:
    """A fresh copy of the curated schema of stream `name`."""
    return copy.deepcopy(_bundled(name))


def property_for_edm(prop: Property, description: str | None = None) -> dict[str, t.Any]:
    """JSON Schema for one `$metadata` property; decimals keep their precision and scale."""
    result: dict[str, t.Any]
    if prop.edm_type == "Edm.Decimal":
        result = {"type": ["string", "null"], "format": "x-singer.decimal"}
        if prop.precision is not None:
            result["precision"] = prop.precision
        if prop.scale is not None:
            result["scale"] = prop.scale
    elif prop.edm_type in _INTEGER_TYPES:
        result = {"type": ["integer", "null"]}
    elif prop.edm_type == "Edm.Boolean":
        result = {"type": ["boolean", "null"]}
    elif prop.edm_type in _DATETIME_TYPES:
        result = {"type": ["string", "null"], "format": "date-time"}
    elif prop.edm_type == "Edm.Date":
        result = {"type": ["string", "null"], "format": "date"}
    else:
        result = {"type": ["string", "null"]}
    result["description"] = description or f"{prop.name} ({prop.edm_type}), from $metadata."
    return result


def add_ud_fields(schema: dict[str, t.Any], entity: EntityType) -> list[str]:
    """Add the entity's user-defined `*_c` columns to `schema`; return the names added."""
    added = []
    for name, prop in entity.properties.items():
        if name.endswith(UD_SUFFIX) and name not in schema["properties"]:
            schema["properties"][name] = property_for_edm(
                prop, f"User-defined field {name} ({prop.edm_type}) of this Epicor instance."
            )
            added.append(name)
    return added


DECIMAL_FACETS = ("precision", "scale")


def restore_decimal_facets(schema: dict[str, t.Any], source: dict[str, t.Any]) -> bool:
    """Copy decimal precision/scale from `source` into `schema`; True if anything changed.

    singer-sdk's Catalog keeps only standard JSON Schema keys, so the SCHEMA messages it builds
    from the catalog would lose them and the target could not make NUMBER(p,s).
    """
    changed = False
    source_props = source.get("properties", {})
    for name, prop in schema.get("properties", {}).items():
        original = source_props.get(name, {})
        for facet in DECIMAL_FACETS:
            if facet in original and facet not in prop:
                prop[facet] = original[facet]
                changed = True
    return changed
