"""Every column an entity serves: the curated ones selected by default, the rest on request.

The bundled schemas hold 20-45 curated columns per stream; Epicor serves far more (536 on
APInvoices, UD fields included). With `$metadata` at hand, discovery lists them all so that a
catalog (or `meltano select`) can pick any of them, while a catalog that says nothing about a
column keeps today's curated set. Before a sync, the same `$metadata` decides which columns are
requested (`$select`) and the replication key's type (or its fallback to SysRevID).
"""

from __future__ import annotations

import typing as t

from singer_sdk.exceptions import FatalAPIError
from singer_sdk.singerlib import Metadata, MetadataMapping

from tap_epicor_kinetic.deletions import DELETED_FIELD
from tap_epicor_kinetic.schema import property_for_edm

if t.TYPE_CHECKING:
    from collections.abc import Mapping

    from tap_epicor_kinetic.client import EpicorStream
    from tap_epicor_kinetic.odata import EntityType


def add_served_columns(
    schema: dict[str, t.Any], entity: EntityType, renames: Mapping[str, str]
) -> list[str]:
    """Add each `$metadata` property `schema` lacks (emitted name after `renames`); return them."""
    added = []
    properties = schema["properties"]
    for name, prop in entity.properties.items():
        field = renames.get(name, name)
        if field in properties:
            continue
        properties[field] = property_for_edm(
            prop,
            f"{name} ({prop.edm_type}) as this Epicor instance serves it; outside the curated "
            "set, so extracted only when selected.",
        )
        added.append(field)
    return added


def mark_defaults(
    metadata: MetadataMapping,
    fields: t.Iterable[str],
    extra: t.Container[str],
    always: t.Container[str] = (),
) -> None:
    """Curated fields `selected-by-default: true`, extra ones `false`, `always` ones automatic.

    `always` holds the UD fields `include_ud_fields` asks for: automatic, so that a select list
    that does not name them (Meltano's default for this tap lists the curated columns) keeps them.
    A field the metadata does not mention (a catalog written before these columns were listed)
    gets an entry too: without one the SDK would select it along with its stream. A
    `selected-by-default` a catalog already states is left as it is.
    """
    for field in fields:
        breadcrumb = ("properties", field)
        entry = metadata.get(breadcrumb)
        if entry is None:
            entry = Metadata(inclusion=Metadata.InclusionType.AVAILABLE)
            metadata[breadcrumb] = entry
        if field in always:
            entry.inclusion = Metadata.InclusionType.AUTOMATIC
        if (
            entry.inclusion != Metadata.InclusionType.AUTOMATIC
            and entry.selected_by_default is None
        ):
            entry.selected_by_default = field not in extra


def select(stream: EpicorStream) -> list[str]:
    """`$select`: the selected schema fields plus keys and paging columns, as OData names.

    Columns this instance's `$metadata` lacks are left out (and stay null), with a warning.
    """
    needed = set(stream.primary_keys or []) | set(stream.ordering_fields())
    if stream.open_column:
        needed.add(stream.open_column)
    fields = [
        name
        for name in stream.schema["properties"]
        if name != DELETED_FIELD and (name in needed or stream.mask.get(("properties", name), True))
    ]
    columns = [stream.odata_name(name) for name in fields]
    available = stream.entity_type.properties if stream.entity_type else None
    if available is not None:
        missing = [c for c in columns if c not in available]
        if missing:
            stream.logger.warning(
                "Stream '%s': this Epicor instance has no column(s) %s; they are not "
                "requested and stay null.",
                stream.name,
                ", ".join(missing),
            )
            columns = [c for c in columns if c in available]
    return columns


def settle_replication_key(stream: EpicorStream, entity: EntityType) -> None:
    """Type the replication key from `$metadata`, or fall back to the tie-break column.

    A configured key the instance lacks (stock Kinetic has no UpdatedOn) falls back to
    SysRevID with a warning; without either column the run stops naming the setting.
    """
    key = t.cast("str", stream.replication_key)
    column = stream.odata_name(key)
    properties = stream.schema["properties"]
    if column in entity.properties:
        if key not in properties or key == stream.placeholder_key:
            properties[key] = property_for_edm(entity.properties[column])
            stream.placeholder_key = None
        return
    if stream.tiebreak_column in entity.properties:
        stream.logger.warning(
            "Stream '%s': %s has no column %s (stock Kinetic has no UpdatedOn); "
            "replicating incrementally on %s instead.",
            stream.name,
            stream.entity_set,
            column,
            stream.tiebreak_column,
        )
        if stream.placeholder_key == key:
            # No always-empty column for a key this instance does not have.
            properties.pop(key, None)
            stream.placeholder_key = None
        stream.replication_key = stream.tiebreak_column
        return
    msg = (
        f"replication_keys.{stream.name}: {stream.entity_set} has neither {column} nor "
        f"{stream.tiebreak_column}; set replication_keys.{stream.name} to one of its columns."
    )
    raise FatalAPIError(msg)
