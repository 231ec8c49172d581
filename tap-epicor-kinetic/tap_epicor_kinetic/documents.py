"""Documents still in entry: re-read every run with their children, tombstoned when gone.

A change to an invoice line does not write the invoice header, so a header's bookmark cannot
find it: documents in entry (unposted invoices, open POs, unposted payments) are read again in
full after the incremental read. The partition state remembers each open document's child keys
(deletions.py); a document or child row remembered but no longer served gets a tombstone.
"""

from __future__ import annotations

import typing as t

from tap_epicor_kinetic import deletions, odata, positions, state
from tap_epicor_kinetic.timeutil import format_rfc3339, utc_now

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

    from tap_epicor_kinetic.client import EpicorStream

#: Documents looked up per request when confirming deletions.
LOOKUP_BATCH = 20

Key = tuple[t.Any, ...]


def tracked(stream: EpicorStream) -> bool:
    """Whether the stream re-reads its documents in entry (incremental headers with one)."""
    return bool(stream.open_column) and stream.replication_method == "INCREMENTAL"


#: (child stream name, its entity set, key columns after the document's key, its own children)
ChildLevel = tuple[str, str, list[str], list[t.Any]]


def child_levels(stream: EpicorStream) -> list[ChildLevel]:
    """How child_keys walks the active children: worked out once per page, not per row."""
    size = len(stream.primary_keys or [])

    def levels(parent: EpicorStream) -> list[ChildLevel]:
        return [
            (
                child.name,
                child.entity_set,
                [child.odata_name(f) for f in list(child.primary_keys or [])[size:]],
                levels(child),
            )
            for child in parent.active_children()
        ]

    return levels(stream)


def child_keys(row: dict[str, t.Any], levels: list[ChildLevel]) -> deletions.ChildKeys:
    """Keys (after the document's own key) of the expanded child rows of one document."""
    keys: deletions.ChildKeys = {}

    def walk(levels: list[ChildLevel], parents: list[dict[str, t.Any]]) -> None:
        # Level by level (all lines, then all their allocations). Every expanded stream gets a
        # set, also when a document has no rows of it (left): an invoice whose only line was
        # deleted has no allocations either.
        for name, entity_set, columns, nested in levels:
            rows = [r for parent in parents for r in parent.get(entity_set) or []]
            # complete_children already filled in the parent's key columns.
            keys.setdefault(name, set()).update(
                tuple(map(positions.json_safe, map(r.get, columns))) for r in rows
            )
            walk(nested, rows)

    walk(levels, [row])
    return keys


class OpenDocuments:
    """The documents one sync of a partition has read, and which of them are still open."""

    def __init__(self, stream: EpicorStream, context: Context | None) -> None:
        """Start from the open documents the previous run remembered, with nothing read yet."""
        self.stream = stream
        #: The documents open at the end of the previous run → their child keys then.
        self.previous = deletions.load(stream.get_context_state(context))
        #: Documents read this sync that are open now or were open last run → their child keys.
        #: A posted document nobody remembers is not kept: it can lose no rows, and a first run
        #: over a million posted invoices would otherwise hold every one of them until the end.
        self.seen: dict[Key, deletions.ChildKeys] = {}
        #: Documents read this sync that are still in entry.
        self.open_now: set[Key] = set()

    def is_open(self, row: dict[str, t.Any]) -> bool:
        """Whether a raw header row is still in entry."""
        stream = self.stream
        return bool(row.get(stream.odata_name(stream.open_column or ""))) == stream.open_value

    def note(self, rows: list[dict[str, t.Any]]) -> None:
        """Remember the documents of one page and their child keys."""
        levels = child_levels(self.stream)
        for row in rows:
            key = self.stream.document_key(row)
            if self.is_open(row):
                self.open_now.add(key)
            else:
                self.open_now.discard(key)
                if key not in self.previous:
                    self.seen.pop(key, None)
                    continue
            self.seen[key] = child_keys(row, levels)

    def read_again(
        self,
        company: str,
        filter_: str,
        context: Context | None,
        *,
        source: tuple[str, str] | None = None,
    ) -> t.Iterator[dict[str, t.Any]]:
        """Records of the documents matching `filter_` not yet emitted this run."""
        stream = self.stream
        for rows in stream.keyed_pages(company, filter_, context, source=source):
            stream.extracted_at = utc_now()
            # A document the incremental read just emitted is not sent twice in one run. (One
            # read posted there and open here changed in between: it is sent again, rightly.)
            fresh = [row for row in rows if stream.document_key(row) not in self.seen]
            self.note(rows)
            stream.emit_children(fresh, context)
            for row in fresh:
                yield stream.to_record(row)

    def reread(self, company: str, context: Context | None) -> t.Iterator[dict[str, t.Any]]:
        """Re-read the documents still in entry with their children; tombstone what is gone.

        Runs after the incremental read. Open documents are read again in full (their child
        rows change without the header being written); documents open last run and neither
        open now nor read again are looked up by key, and tombstoned (with their children) when
        not found; child keys remembered but missing now are tombstoned.
        """
        stream = self.stream
        previous = self.previous
        open_filter = (
            f"{stream.odata_name(stream.open_column or '')} eq {odata.literal(stream.open_value)}"
        )
        yield from self.read_again(
            company,
            odata.all_of(open_filter, state.start_filter(stream)) or "",
            context,
            source=stream.open_source,
        )
        unknown = [key for key in previous if key not in self.seen]
        columns = stream.primary_columns()
        for start in range(0, len(unknown), LOOKUP_BATCH):
            batch = unknown[start : start + LOOKUP_BATCH]
            filter_ = " or ".join(
                "("
                + " and ".join(
                    f"{c} eq {odata.literal(v)}" for c, v in zip(columns, key, strict=True)
                )
                + ")"
                for key in batch
            )
            yield from self.read_again(company, filter_, context)
        deleted_at = format_rfc3339(utc_now())
        fields = list(stream.primary_keys or [])
        by_name = {child.name: child for child in stream.active_descendants()}
        for key, before in previous.items():
            now = self.seen.get(key)
            gone = before if now is None else deletions.missing_children(before, now)
            for name, keys in gone.items():
                child = by_name.get(name)
                if child is not None and child.selected:
                    child.write_tombstones(
                        [(*key, *suffix) for suffix in sorted(keys, key=repr)], deleted_at
                    )
            if now is None:
                stream.logger.info(
                    "Stream '%s': %s was deleted in Epicor; sending a tombstone.", stream.name, key
                )
                yield deletions.tombstone(fields, key, deleted_at)
        deletions.store(
            stream.get_context_state(context), {key: self.seen[key] for key in self.open_now}
        )
