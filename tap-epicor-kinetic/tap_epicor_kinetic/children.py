"""Child streams: read in their parent's page (`$expand`), emitted before the parent's rows.

A child never sends requests of its own: the parent's `$expand` brings its rows, a collection
that may have been cut short at a server cap is read again in full through the keyed
navigation route, and the child is synced once per page of parents (`Stream.sync` with the rows
handed over), so no STATE covering a parent is written before its children.
"""

from __future__ import annotations

import typing as t
from urllib.parse import quote

from singer_sdk.exceptions import (
    AbortedSyncFailedException,
    AbortedSyncPausedException,
    FatalAPIError,
)

from tap_epicor_kinetic import odata
from tap_epicor_kinetic.errors import collection_problem
from tap_epicor_kinetic.odata import Scalar

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

    from tap_epicor_kinetic.client import EpicorStream

#: An expanded collection this long may have been cut at a server cap (a cap, when a server has
#: one, is a round page size such as 100; whether Kinetic has one is unknown): it is read again
#: in full through the keyed navigation route. Shorter collections cost no extra request.
EXPAND_SUSPECT_ROWS = 100
#: Left as is in a key predicate `(…)` of a URL path: OData punctuation of literals.
KEY_SAFE = "(),'"


def active(stream: EpicorStream) -> list[EpicorStream]:
    """The child streams to extract: selected, or with a selected child of their own."""
    return [
        child
        for child in t.cast("list[EpicorStream]", stream.child_streams)
        if child.selected or child.has_selected_descendents
    ]


def descendants(stream: EpicorStream) -> list[EpicorStream]:
    """The active children, their active children, and so on."""
    found = []
    for child in stream.active_children():
        found.append(child)
        found.extend(child.active_descendants())
    return found


def expand_clause(stream: EpicorStream) -> str | None:
    """`APInvDtls($select=…;$expand=APInvExps($select=…))` for the active children."""
    parts = []
    for child in stream.active_children():
        inner = f"$select={','.join(child.select_columns())}"
        nested = child.expand_clause()
        if nested:
            inner += f";$expand={nested}"
        parts.append(f"{child.entity_set}({inner})")
    return ",".join(parts) or None


def expansion_problem(stream: EpicorStream, rows: list[dict[str, t.Any]]) -> str | None:
    """Why the expanded children of `rows` are not lists of rows; None when they are."""
    for child in stream.active_children():
        nested: list[dict[str, t.Any]] = []
        for index, row in enumerate(rows):
            children = row.get(child.entity_set)
            if children is None:
                continue
            problem = collection_problem({"value": children})
            if problem is not None:
                return f"{child.entity_set} of row {index + 1}: {problem}"
            nested.extend(children)
        problem = child.children_problem(nested) if nested else None
        if problem is not None:
            return problem
    return None


def emit(stream: EpicorStream, rows: list[dict[str, t.Any]], context: Context | None) -> None:
    """Emit the child rows nested in one page of parent rows, before the parents themselves.

    Children go first so that no STATE covering a parent is written before its children.
    """
    for child in stream.active_children():
        # complete_children already filled in the parent's key columns.
        child_rows = [child_row for row in rows for child_row in row.get(child.entity_set) or []]
        if not child_rows:
            continue
        child.parent_rows = child_rows
        child.extracted_at = stream.extracted_at
        try:
            child.sync(context=dict(context or {}))
        except (AbortedSyncFailedException, AbortedSyncPausedException):
            # A record limit (dry run / tests) stopped the child; the parent goes on.
            continue
        finally:
            child.parent_rows = []


def child_records(stream: EpicorStream, context: Context | None) -> t.Iterator[dict[str, t.Any]]:
    """A child's records: the rows its parent's page handed over (its own children first)."""
    rows = stream.parent_rows
    emit(stream, rows, context)
    for row in rows:
        yield stream.to_record(row)


def complete(
    stream: EpicorStream, rows: list[dict[str, t.Any]], company: str, context: Context | None
) -> list[dict[str, t.Any]]:
    """`rows` with every expanded collection that may be cut short replaced by all of it.

    A collection of EXPAND_SUSPECT_ROWS or more rows is read again through
    `{Set}({keys})/{Nav}`, paged with `$skip` until an empty page; then the same for the
    next level (invoice lines -> allocations). Also fills in each child row's parent-key
    columns the server left empty. Runs before children are emitted or their keys
    remembered, so a cut collection neither loses rows nor tombstones them.
    """
    for child in stream.active_children():
        nested: list[dict[str, t.Any]] = []
        for row in rows:
            children = row.get(child.entity_set)
            if not children:
                continue
            if len(children) >= EXPAND_SUSPECT_ROWS:
                children = navigate(stream, row, child, company, context, expanded=len(children))
                row[child.entity_set] = children
            for child_row in children:
                for child_col, parent_col in child.parent_keys.items():
                    if child_row.get(child_col) in (None, ""):
                        child_row[child_col] = row.get(parent_col)
            nested.extend(children)
        if nested:
            child.complete_children(nested, company, context)
    return rows


def navigate(
    stream: EpicorStream,
    row: dict[str, t.Any],
    child: EpicorStream,
    company: str,
    context: Context | None,
    *,
    expanded: int,
) -> list[dict[str, t.Any]]:
    """All of one row's `child` collection, from the keyed navigation route."""
    values = [row.get(c) for c in stream.primary_columns()]
    if None in values:
        msg = (
            f"Stream '{child.name}': a {stream.entity_set} row with {expanded} "
            f"{child.entity_set} rows (a server may have cut them short) lacks its key "
            f"{stream.primary_columns()}, so they cannot be read again; nothing was emitted."
        )
        raise FatalAPIError(msg)
    keys = ",".join(odata.literal(t.cast("Scalar", v)) for v in values)
    url = f"{stream.entity_url(company)}({quote(keys, safe=KEY_SAFE)})/{child.entity_set}"
    params: dict[str, t.Any] = {
        "$select": ",".join(child.select_columns()),
        "$orderby": ",".join(child.primary_columns()),
        "$top": stream.services.page_size,
    }
    nested = child.expand_clause()
    if nested:
        params["$expand"] = nested
    found: list[dict[str, t.Any]] = []
    route = f"{stream.entity_set}({keys})/{child.entity_set}"
    what = (
        f"Stream '{child.name}': {stream.entity_set}({keys}) came with {expanded} "
        f"{child.entity_set} rows in $expand, which a server may have cut short"
    )
    try:
        while page := stream.get_rows(url, {**params, "$skip": len(found)}, context):
            if found and child.document_key(page[0]) == child.document_key(found[0]):
                msg = f"{route} ignores $skip (it repeated its first page)"
                raise FatalAPIError(msg)
            found.extend(page)
    except FatalAPIError as exc:
        msg = (
            f"{what}, and reading them all through {route} failed: {exc}. Nothing past "
            "this document was emitted; check that the route is served."
        )
        raise FatalAPIError(msg) from None
    if len(found) < expanded:
        msg = (
            f"{what}, but {route} returned only {len(found)}; which is complete cannot be "
            "told, so nothing past this document was emitted."
        )
        raise FatalAPIError(msg)
    if len(found) > expanded:
        stream.logger.warning(
            "Stream '%s': %s(%s) came with %d %s in $expand; read all %d instead "
            "(the server cuts expanded collections short).",
            child.name,
            stream.entity_set,
            keys,
            expanded,
            child.entity_set,
            len(found),
        )
    return found
