"""CSDL v4 `$metadata` of a service: Edm types, Precision/Scale, keys, navigation."""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

from finance_sandbox.epicor.model import DEC, Entity


def _type(ent: Entity) -> str:
    return ent.type_name.split(".", 1)[1]


def csdl(service: str, ents: list[Entity], all_entities: dict[str, Entity]) -> str:
    """The XML document Epicor serves at `{Service}/$metadata` (namespace `Erp`)."""
    types: dict[str, Entity] = {}
    for ent in ents:
        types[ent.table] = ent
        for nav in ent.navs.values():
            child = all_entities[nav.child]
            types[child.table] = child
            for inner in child.navs.values():
                types[inner.child] = all_entities[inner.child]
    out = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">',
        "<edmx:DataServices>",
        '<Schema Namespace="Erp" xmlns="http://docs.oasis-open.org/odata/ns/edm">',
    ]
    for ent in types.values():
        out.append(f"<EntityType Name={quoteattr(_type(ent))}>")
        out.append("<Key>" + "".join(f'<PropertyRef Name="{k}"/>' for k in ent.keys) + "</Key>")
        for col in ent.columns.values():
            attrs = f'Name="{col.name}" Type="{col.edm}"'
            if col.kind == DEC:
                attrs += f' Precision="{col.precision}" Scale="{col.scale}"'
            nullable = col.name not in ent.keys and col.kind in ("date", "stamp")
            attrs += f' Nullable="{str(nullable).lower()}"'
            out.append(f"<Property {attrs}/>")
        for nav in ent.navs.values():
            child = all_entities[nav.child]
            out.append(
                f'<NavigationProperty Name="{nav.name}" Type="Collection(Erp.{_type(child)})"/>'
            )
        out.append("</EntityType>")
    container = service.replace(".", "_")
    out.append(f'<EntityContainer Name="{container}">')
    for ent in ents:
        out.append(f'<EntitySet Name="{ent.entity_set}" EntityType="Erp.{_type(ent)}">')
        for nav in ent.navs.values():
            target = all_entities[nav.child].entity_set
            out.append(f'<NavigationPropertyBinding Path="{nav.name}" Target="{target}"/>')
        out.append("</EntitySet>")
    out += ["</EntityContainer>", "</Schema>", "</edmx:DataServices>", "</edmx:Edmx>"]
    return "\n".join(out)
