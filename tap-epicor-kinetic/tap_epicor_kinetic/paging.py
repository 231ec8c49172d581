"""Requests and paging: one GET with retries, keyset pages inside a fixed window, keyed pages.

Keyset paging (`$filter` after the last row received, `$orderby` the ordering, `$top`) loses
nothing to a server-side row cap below `$top` and never shifts rows that did not change, which
`$skip` would. The window ends at the last row when the sync starts (read first, with a check
that server_timezone matches the server's); a row written later is read by the next sync.
"""

from __future__ import annotations

import datetime as dt
import typing as t

from singer_sdk.exceptions import FatalAPIError, RetriableAPIError

from tap_epicor_kinetic import odata, state
from tap_epicor_kinetic.errors import collection_rows, is_license_exhaustion
from tap_epicor_kinetic.prefetch import OutOfOrderError, prefetched_pages
from tap_epicor_kinetic.retry import call_with_retries

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

    from tap_epicor_kinetic.client import EpicorStream
    from tap_epicor_kinetic.positions import Position


def _exact_in_utc(value: dt.datetime) -> bool:
    """Whether the instant exists in UTC (a filter literal can name it exactly)."""
    try:
        value.astimezone(dt.UTC)
    except OverflowError:
        return False
    return True


def get_rows(
    stream: EpicorStream, url: str, params: dict[str, t.Any], context: Context | None
) -> list[dict[str, t.Any]]:
    """GET with the shared retry policy: the rows of the answer, numbers as Decimal.

    An answer that is not a list of rows (with well-formed expanded children) is retried
    as a server fault.
    """

    limit = stream.services.request_limit

    def send() -> list[dict[str, t.Any]]:
        prepared = stream.build_prepared_request(
            method="GET",
            url=f"{url}?{odata.encode_query(params)}" if params else url,
            headers=stream.http_headers,
        )
        try:
            response = stream.send(prepared, context)
        except RetriableAPIError as exc:
            failed = exc.response
            if failed is not None and (failed.status_code == 429 or is_license_exhaustion(failed)):
                limit.throttled(
                    f"Stream '{stream.name}': Epicor is throttling (HTTP {failed.status_code})"
                )
            raise
        stream.services.server_clock.observe(response)
        rows = collection_rows(
            response, what=f"Stream '{stream.name}'", check=stream.children_problem
        )
        limit.succeeded()
        return rows

    return call_with_retries(
        send,
        policy=stream.services.retry_policy,
        what=f"Stream '{stream.name}'",
        logger=stream.logger,
    )


def upper_bound(
    stream: EpicorStream, url: str, lower: str | None, context: Context | None
) -> Position | None:
    """The last row in the ordering when the sync starts; the window ends there."""
    columns = [stream.odata_name(f) for f in stream.ordering_fields()]
    params: dict[str, t.Any] = {
        "$select": ",".join(columns),
        "$orderby": ",".join(f"{c} desc" for c in columns),
        "$top": 1,
    }
    if lower:
        params["$filter"] = lower
    rows = get_rows(stream, url, params, context)
    if not rows:
        return None
    check_zone(stream, url, rows[0], context)
    return stream.position(rows[0])


def check_zone(
    stream: EpicorStream, url: str, row: dict[str, t.Any], context: Context | None
) -> None:
    """Fail naming server_timezone when our datetime literals do not find a served row.

    Filter literals carry an offset and the server converts them to its own zone; read in
    the wrong zone, every keyset anchor shifts by hours and rows would be skipped or come
    back out of order. Asking for the window's last row by its own values proves the zone
    before anything is emitted.
    """
    columns = [stream.odata_name(f) for f in stream.ordering_fields()]
    values = [stream.position_value(row.get(c)) for c in columns]
    stamps = [v for v in values if isinstance(v, dt.datetime)]
    if not stamps:
        return
    latest = stream.services.server_clock.latest_trusted()
    if any(not _exact_in_utc(v) or v > latest for v in stamps):
        # A stamp past the server's clock is never a bookmark (clock.py), and one at the
        # types' edge (9999-12-31 west of UTC) has no exact literal: neither can prove the
        # zone, and asking for it would fail a correct setting.
        return
    params: dict[str, t.Any] = {
        "$select": ",".join(columns),
        "$filter": " and ".join(
            f"{c} eq {odata.literal(v)}" for c, v in zip(columns, values, strict=True)
        ),
        "$top": 1,
    }
    if get_rows(stream, url, params, context):
        return
    served = next(str(row.get(c)) for c, v in zip(columns, values, strict=True) if v)
    msg = (
        f"server_timezone: {stream.services.zone} does not match the Epicor server's time zone "
        f"(the row served with {columns[0]} {served} is not found by that value read in "
        f"{stream.services.zone}); set server_timezone to the zone the server runs in, e.g. "
        "America/Chicago. Nothing was emitted for this stream."
    )
    raise FatalAPIError(msg)


def page_rows(
    stream: EpicorStream, company: str, context: Context | None
) -> t.Iterator[list[dict[str, t.Any]]]:
    """Pages of raw rows, keyset-paged on (replication key, SysRevID) inside a fixed window.

    `$top` + `$orderby`; each page starts after the last row received (so a server-side cap
    below `$top` loses nothing) and paging stops on an empty page or at the window's end
    (the last row when the sync started). A row changed mid-sync moves past the window and
    is read by the next sync; unlike plain `$skip`, that never shifts the rows that did not
    change.
    """
    url = stream.entity_url(company)
    lower, stream.cursor.floor = state.lower_bound(stream, context)
    base = state.start_filter(stream)
    order_columns = [stream.odata_name(f) for f in stream.ordering_fields()]
    select = stream.select_columns()
    expand = stream.expand_clause()
    orderby = ",".join(
        [*order_columns, *[c for c in stream.primary_columns() if c not in order_columns]]
    )

    def bound() -> Position | None:
        upper = upper_bound(stream, url, odata.all_of(base, lower), context)
        if upper is None:
            stream.logger.info("Stream '%s' (%s): nothing new.", stream.name, company)
        return upper

    def window(anchor: Position | None) -> str | None:
        # No upper bound in the filter: it is fetched alongside the first page, and the
        # pages past it are cut by prefetched_pages.
        after = odata.after(order_columns, anchor) if anchor is not None else lower
        return odata.all_of(base, after)

    def fetch(filter_: str | None, skip: int, top: int) -> list[dict[str, t.Any]]:
        params: dict[str, t.Any] = {"$select": ",".join(select)}
        if filter_:
            params["$filter"] = filter_
        params["$orderby"] = orderby
        if skip:
            params["$skip"] = skip
        params["$top"] = top
        if expand:
            params["$expand"] = expand
        return stream.complete_children(get_rows(stream, url, params, context), company, context)

    # Up to max_concurrent_requests in flight; with the default of 1 it is still one request
    # at a time, but the next page is asked for as soon as the current one arrives.
    try:
        yield from prefetched_pages(
            fetch,
            stream.position,
            window,
            bound=bound if stream.replication_key else None,
            page_size=stream.services.page_size,
            limit=stream.services.request_limit,
        )
    except OutOfOrderError:
        msg = (
            f"Stream '{stream.name}': the server returned rows out of order for "
            f"$orderby={orderby}; cannot page safely."
        )
        raise FatalAPIError(msg) from None


def keyed_pages(
    stream: EpicorStream,
    company: str,
    filter_: str,
    context: Context | None,
    *,
    source: tuple[str, str] | None = None,
) -> t.Iterator[list[dict[str, t.Any]]]:
    """Pages of the rows matching `filter_`, keyset-paged on the primary key.

    For the open-document re-read and keyed lookups: a write moves no row in this ordering.
    """
    url = stream.entity_url(company, source)
    columns = stream.primary_columns()
    select = stream.select_columns()
    expand = stream.expand_clause()
    anchor: Position | None = None
    while True:
        after = odata.after(columns, anchor) if anchor is not None else None
        params: dict[str, t.Any] = {
            "$select": ",".join(select),
            "$filter": odata.all_of(filter_, after),
            "$orderby": ",".join(columns),
            "$top": stream.services.page_size,
        }
        if expand:
            params["$expand"] = expand
        rows = stream.complete_children(get_rows(stream, url, params, context), company, context)
        if not rows:
            return
        last = stream.document_key(rows[-1])
        if last == anchor:
            msg = f"Stream '{stream.name}': the server repeated a page for $filter={filter_}."
            raise FatalAPIError(msg)
        yield rows
        anchor = last
