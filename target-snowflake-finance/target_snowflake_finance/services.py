"""LoadServices: what every sink of one run shares, built once by the target at start.

Where batch files, audit rows, rejects and dead letters go, and the run-wide bookkeeping a sink
reports to (table ownership and grants, overwrite claims, batch counts for state after commit).
A sink and its BatchLoader get this object at construction instead of calling back into the
target.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, eq=False)
class LoadServices:
    """The run's shared values and callbacks, for its sinks."""

    load_id: str
    stage_ref: str
    audit_ref: str
    rejects_ref: str
    #: Where batches that failed to load are kept for `replay` (setting `dead_letter_dir`).
    dead_letter_dir: Path
    #: The loading role, for messages ("(the connecting role)" when its grants are unread).
    role_name: str
    #: The stream's replication key, from its SCHEMA's bookmark_properties.
    replication_key: Callable[[str], str | None]
    #: `(table_ref, stream, keys)`: one stream per table; the keys it had earlier in the run.
    claim_table: Callable[[str, str, list[str]], list[str] | None]
    #: `(table_ref, load_method)`: True once per run and table for `overwrite`.
    claim_overwrite: Callable[[str, str], bool]
    #: `(table_ref)`: the replacing batch rolled back; the next attempt replaces again.
    release_overwrite: Callable[[str], None]
    #: `(table)`: the role created this table in this run, so it owns it.
    table_created: Callable[[str], None]
    #: `(table, privileges, stream)`: raise when the role lacks one on the table.
    require_table_grants: Callable[[str, tuple[str, ...], str], None]
    #: `(table)`: whether the role owns it (True when its grants could not be read).
    owns_table: Callable[[str], bool]
    #: A batch was handed to a background load (reading thread; raises another's failure).
    batch_submitted: Callable[[], None]
    #: `(table, rows, rejected)`: a batch committed (loader thread), for the run's tally.
    batch_committed: Callable[[str, int, int], None]
    #: A loader thread counted its commit: write the states it completes.
    batch_loaded: Callable[[], None]
