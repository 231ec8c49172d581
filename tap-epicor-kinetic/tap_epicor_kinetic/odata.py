"""OData v4 pieces: filter literals, keyset predicates, query strings, and CSDL parsing."""

from __future__ import annotations

import datetime as dt
import decimal
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote

from tap_epicor_kinetic.timeutil import filter_literal

Scalar = str | int | decimal.Decimal | bool | dt.datetime

_EDM = "{http://docs.oasis-open.org/odata/ns/edm}"
# Left as is in query values: OData punctuation. `;` and `=` (inside $expand) are escaped.
_VALUE_SAFE = "(),'$:*"


def literal(value: Scalar) -> str:
    """The OData literal of a value; strings escape `'` by doubling it (reference §5.2)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return filter_literal(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    return "'" + value.replace("'", "''") + "'"


def all_of(*filters: str | None) -> str | None:
    """Filters joined with `and` (None where there is nothing to filter)."""
    present = [f for f in filters if f]
    if len(present) <= 1:
        return present[0] if present else None
    return " and ".join(f"({f})" for f in present)


def after(columns: Sequence[str], values: Sequence[Scalar]) -> str:
    """Keyset predicate: the row's (columns) tuple sorts strictly after `values`."""
    return _compare(columns, values, "gt", "gt")


def _compare(columns: Sequence[str], values: Sequence[Scalar], strict: str, last: str) -> str:
    """(c1, c2, …) op (v1, v2, …) spelled with and/or, as OData has no row comparisons."""
    *heads, tail = list(zip(columns, values, strict=True))
    expr = f"{tail[0]} {last} {literal(tail[1])}"
    for column, value in reversed(heads):
        lit = literal(value)
        expr = f"{column} {strict} {lit} or ({column} eq {lit} and ({expr}))"
    return expr


def encode_query(params: Mapping[str, str | int]) -> str:
    """Encode query options with literal `$` names and %20 spaces (never `+`, never `%24top`)."""
    return "&".join(
        f"{quote(key, safe='$')}={quote(str(value), safe=_VALUE_SAFE)}"
        for key, value in params.items()
    )


@dataclass(frozen=True)
class Property:
    """One property of an entity type in `$metadata`."""

    name: str
    edm_type: str
    precision: int | None = None
    scale: int | None = None


@dataclass
class EntityType:
    """An entity type: its properties and navigation properties (name → target type name)."""

    name: str
    properties: dict[str, Property] = field(default_factory=dict)
    navigation: dict[str, str] = field(default_factory=dict)


@dataclass
class ServiceMetadata:
    """The parts of a service's CSDL the tap needs."""

    entity_types: dict[str, EntityType] = field(default_factory=dict)
    entity_sets: dict[str, str] = field(default_factory=dict)

    def entity_set_type(self, entity_set: str) -> EntityType | None:
        """The entity type behind an entity set."""
        type_name = self.entity_sets.get(entity_set)
        return self.entity_types.get(_short(type_name)) if type_name else None

    def navigation_type(self, parent: EntityType, navigation: str) -> EntityType | None:
        """The entity type a navigation property of `parent` leads to."""
        target = parent.navigation.get(navigation)
        return self.entity_types.get(_short(target)) if target else None


def _short(type_name: str) -> str:
    """`Collection(Erp.APInvDtl)` or `Erp.APInvDtl` → `APInvDtl`."""
    inner = type_name.removeprefix("Collection(").removesuffix(")")
    return inner.rsplit(".", 1)[-1]


def _int_or_none(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() else None


def bytes_or_text_head(body: str | bytes, size: int = 120) -> str:
    """The start of a response body, for messages."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    return text[:size]


def parse_metadata(xml_text: str | bytes) -> ServiceMetadata:
    """Parse CSDL v4 XML (`{Service}/$metadata`); ValueError if the body is not XML."""
    try:
        root = ET.fromstring(xml_text)  # noqa: S314 (the server's own metadata document)
    except ET.ParseError as exc:  # a SyntaxError, which callers would not expect
        msg = f"the $metadata body is not XML ({exc}): {bytes_or_text_head(xml_text)!r}"
        raise ValueError(msg) from None
    meta = ServiceMetadata()
    for etype in root.iter(f"{_EDM}EntityType"):
        entity = EntityType(name=etype.get("Name", ""))
        for prop in etype.findall(f"{_EDM}Property"):
            name = prop.get("Name", "")
            entity.properties[name] = Property(
                name=name,
                edm_type=prop.get("Type", "Edm.String"),
                precision=_int_or_none(prop.get("Precision")),
                scale=_int_or_none(prop.get("Scale")),
            )
        for nav in etype.findall(f"{_EDM}NavigationProperty"):
            entity.navigation[nav.get("Name", "")] = nav.get("Type", "")
        meta.entity_types[entity.name] = entity
    for eset in root.iter(f"{_EDM}EntitySet"):
        meta.entity_sets[eset.get("Name", "")] = eset.get("EntityType", "")
    return meta
