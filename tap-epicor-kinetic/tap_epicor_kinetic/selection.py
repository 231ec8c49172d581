"""Refuse a run that could only emit state: nothing selected, or every selected stream mapped away.

Such a run exits 0 and its STATE moves Meltano's bookmarks, so a later run skips the rows it never
sent. Failing before the first message keeps the bookmarks where they were.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from singer_sdk import Stream
from singer_sdk.mapper import PluginMapper, RemoveRecordTransform

from tap_epicor_kinetic.baq import BaqStream


class NothingToExtractError(Exception):
    """The catalog and stream maps leave no stream to extract; the message says what to fix."""


def excluded_by_stream_maps(mapper: PluginMapper, stream: str) -> bool:
    """True when every map of `stream` drops its records (`stream: null`, `__else__: null`)."""
    maps = mapper.stream_maps.get(stream) or []
    return bool(maps) and all(isinstance(m, RemoveRecordTransform) for m in maps)


def check_streams_to_extract(
    streams: Iterable[Stream], mapper: PluginMapper, logger: logging.Logger
) -> None:
    """Raise unless at least one selected stream reaches the output; warn of unselected BAQs."""
    streams = list(streams)
    selected = [s.name for s in streams if s.selected]
    for stream in streams:
        if isinstance(stream, BaqStream) and not stream.selected:
            # Configured to be extracted, yet a select list that predates it leaves it out.
            logger.warning(
                "BAQ stream '%s' is configured in baq_streams but not selected, so it is not "
                "extracted. Select it with `meltano select tap-epicor-kinetic %s '*'` or in the "
                "catalog.",
                stream.name,
                stream.name,
            )
    if not selected:
        msg = (
            "No stream is selected, so the run would only emit state. Select streams with "
            "`meltano select tap-epicor-kinetic <stream>` (list them with `--list --all`) or "
            "mark them selected in the catalog."
        )
        raise NothingToExtractError(msg)
    if all(excluded_by_stream_maps(mapper, name) for name in selected):
        msg = (
            f"stream_maps exclude every selected stream ({', '.join(selected)}), so the run "
            "would only emit state. Remove `__else__: null` (it drops every stream without a "
            "map of its own) or the `<stream>: null` entries from stream_maps."
        )
        raise NothingToExtractError(msg)
