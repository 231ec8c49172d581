"""Every column an entity serves: the curated ones selected by default, the rest on request.

The bundled schemas hold 20-45 curated columns per stream; Epicor serves far more (536 on
APInvoices, UD fields included). With `$metadata` at hand, discovery lists them all so that a
catalog (or `meltano select`) can pick any of them, while a catalog that says nothing about a
column keeps today's curated set.
"""

from __future__ import annotations

import typing as t

from singer_sdk.singerlib import Metadata, MetadataMapping

from tap_epicor_kinetic.schema import property_for_edm

if t.TYPE_CHECKING:
    from collections.abc import Mapping

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
