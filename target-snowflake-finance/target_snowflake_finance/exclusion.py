"""Records the target's own stream maps drop, so a run that loaded none of them cannot pass.

With `stream_maps: {__else__: null}` every stream without a map is dropped; the tap's STATE still
arrives and, emitted, would move Meltano's bookmarks past rows that never landed.
"""

from __future__ import annotations

from collections import Counter

from singer_sdk.mapper import PluginMapper, RemoveRecordTransform

from target_snowflake_finance.errors import TargetConfigError


class ExcludedRecords:
    """Counts records that reached a sink and records that the stream maps removed."""

    def __init__(self) -> None:
        self.passed = 0
        self.excluded: Counter[str] = Counter()

    def count(self, mapper: PluginMapper, stream: str) -> None:
        maps = mapper.stream_maps.get(stream) or []
        if maps and all(isinstance(m, RemoveRecordTransform) for m in maps):
            self.excluded[stream] += 1
        else:
            self.passed += 1

    def check(self) -> None:
        """Raise when records arrived and the stream maps removed every one of them."""
        if self.passed or not self.excluded:
            return
        streams = ", ".join(f"{name} ({n})" for name, n in sorted(self.excluded.items()))
        raise TargetConfigError(
            f"stream_maps of target-snowflake-finance excluded every record it received: "
            f"{streams}. No state is emitted, so the next run sends them again. Remove "
            "`__else__: null` (it drops every stream without a map of its own) or the "
            "`<stream>: null` entries from the target's stream_maps."
        )
