"""BaqStream: a stream from a BAQ (`BaqSvc/{baq_id}/Data`), incremental when a key is given."""

from __future__ import annotations

import decimal
import typing as t
from urllib.parse import quote

from singer_sdk.exceptions import ConfigValidationError, FatalAPIError
from singer_sdk.helpers.types import Context

from tap_epicor_kinetic.client import EpicorStream
from tap_epicor_kinetic.errors import collection_rows
from tap_epicor_kinetic.odata import Property, encode_query
from tap_epicor_kinetic.schema import property_for_edm
from tap_epicor_kinetic.timeutil import looks_like_datetime

if t.TYPE_CHECKING:
    from tap_epicor_kinetic.odata import EntityType
    from tap_epicor_kinetic.tap import TapEpicorKinetic

try:
    from typing import override  # type: ignore[attr-defined]
except ImportError:  # Python < 3.12
    from typing_extensions import override

SAMPLE_ROWS = 100


def _edm_of(values: list[t.Any]) -> Property:
    """Infer an EDM type from sample values (BAQs without $metadata)."""
    present = [v for v in values if v is not None and v != ""]
    if present and all(isinstance(v, bool) for v in present):
        return Property("", "Edm.Boolean")
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return Property("", "Edm.Int64")
    if present and all(isinstance(v, (int, decimal.Decimal)) for v in present):
        scale = max(
            -int(t.cast("int", decimal.Decimal(v).as_tuple().exponent))
            if isinstance(v, decimal.Decimal)
            else 0
            for v in present
        )
        return Property("", "Edm.Decimal", None, max(scale, 0))
    if present and all(looks_like_datetime(v) for v in present):
        return Property("", "Edm.DateTimeOffset")
    return Property("", "Edm.String")


class BaqStream(EpicorStream):
    """Rows of one BAQ; BAQ columns are named `{Table}_{Field}` / `Calculated_{Name}`."""

    service = "BaqSvc"
    default_replication_key = None

    def __init__(self, tap: TapEpicorKinetic, definition: t.Mapping[str, t.Any]) -> None:
        """Build the stream from one `baq_streams` entry."""
        self.baq_id = str(definition.get("baq_id") or "")
        if not self.baq_id:
            msg = f"baq_streams: entry {definition.get('name')!r} needs a baq_id."
            raise ConfigValidationError(msg, errors=[msg])
        self._keys = [str(k) for k in definition.get("primary_keys") or []]
        self._baq_replication_key = str(definition.get("replication_key") or "") or None
        self._definition_name = str(definition["name"])
        self.services = tap.services
        schema = self._discover_schema()
        super().__init__(tap, schema, name=self._definition_name)
        self.primary_keys = self._keys
        self.replication_key = self._baq_replication_key

    @property
    def baq_service(self) -> str:
        """`BaqSvc/{baq_id}`: where `$metadata` and `Data` live."""
        return f"BaqSvc/{quote(self.baq_id, safe='')}"

    @override
    def entity_url(self, company: str) -> str:
        return f"{self.url_base}/{quote(company, safe='')}/{self.baq_service}/Data"

    @override
    def tiebreak_fields(self) -> list[str]:
        return list(self._keys)

    @override
    def resolve_entity_type(self) -> EntityType | None:
        meta = self.services.service_metadata(self.baq_service)
        if meta is None:
            return None
        return meta.entity_set_type("Data") or next(iter(meta.entity_types.values()), None)

    def _discover_schema(self) -> dict[str, t.Any]:
        """From the BAQ's $metadata, else from a sample of rows; offline, keys only."""
        properties: dict[str, t.Any] = {}
        if self.services.online:
            meta = self.services.service_metadata(self.baq_service)
            entity = None
            if meta is not None:
                entity = meta.entity_set_type("Data") or next(
                    iter(meta.entity_types.values()), None
                )
            if entity is not None:
                for name, prop in entity.properties.items():
                    properties[name] = property_for_edm(prop, f"BAQ column {name}.")
            else:
                properties = self._schema_from_sample()
        # The company partition is added to every record (the BAQ runs once per company).
        properties.setdefault(
            "Company", {"type": ["string", "null"], "description": "Company the BAQ ran in."}
        )
        for name in [
            *self._keys,
            *([self._baq_replication_key] if self._baq_replication_key else []),
        ]:
            properties.setdefault(
                name, {"type": ["string", "integer", "null"], "description": f"BAQ column {name}."}
            )
        return {"type": "object", "properties": properties}

    def _schema_from_sample(self) -> dict[str, t.Any]:
        services = self.services
        url = f"{services.company_root(services.companies[0])}/{self.baq_service}/Data"
        query = encode_query({"$top": SAMPLE_ROWS})
        what = f"Stream '{self._definition_name}' (BAQ {self.baq_id}, reading its columns)"
        sample: list[dict[str, t.Any]] = []
        services.get_url(
            f"{url}?{query}",
            accept="application/json",
            what=what,
            check=lambda response: sample.extend(collection_rows(response, what=what)),
        )
        rows = sample
        columns: dict[str, list[t.Any]] = {}
        for row in rows:
            for name, value in row.items():
                if not name.startswith("@odata") and not isinstance(value, (list, dict)):
                    columns.setdefault(name, []).append(value)
        return {
            name: property_for_edm(_edm_of(values), f"BAQ column {name} (type inferred from data).")
            for name, values in columns.items()
        }

    @override
    def prepare(self) -> None:
        if self._prepared:
            return
        self._prepared = True
        self.entity_type = self.resolve_entity_type()
        if self.entity_type is None:
            return
        missing = [
            c
            for c in [*self._keys, *([self.replication_key] if self.replication_key else [])]
            if c not in self.entity_type.properties
        ]
        if missing:
            msg = (
                f"baq_streams {self.name!r}: BAQ {self.baq_id} has no column(s) "
                f"{', '.join(missing)}; fix primary_keys / replication_key."
            )
            raise FatalAPIError(msg)

    @override
    def page_rows(
        self, company: str, context: Context | None
    ) -> t.Iterator[list[dict[str, t.Any]]]:
        if self.ordering_fields():
            yield from super().page_rows(company, context)
            return
        # Nothing to order by: plain $top/$skip, advancing by the rows received.
        url = self.entity_url(company)
        skip = 0
        while True:
            params: dict[str, t.Any] = {"$top": self.services.page_size}
            if skip:
                params["$skip"] = skip
            rows = self.get_rows(url, params, context)
            if not rows:
                return
            yield rows
            skip += len(rows)
