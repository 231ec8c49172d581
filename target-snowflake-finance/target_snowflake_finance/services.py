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

from target_snowflake_finance.run_grants import RunGrants
from target_snowflake_finance.table_claims import TableClaims


@dataclass(frozen=True, eq=False)
class LoadServices:
    """The run's shared values and callbacks, for its sinks."""

    load_id: str
    stage_ref: str
    audit_ref: str
    rejects_ref: str
    #: Where batches that failed to load are kept for `replay` (setting `dead_letter_dir`).
    dead_letter_dir: Path
    #: The stream's replication key, from its SCHEMA's bookmark_properties.
    replication_key: Callable[[str], str | None]
    #: One stream per table; one replacing batch per table for `overwrite`.
    claims: TableClaims
    #: The loading role's grants: checked before a table is loaded or altered.
    grants: RunGrants
    #: A batch was handed to a background load (reading thread; raises another's failure).
    batch_submitted: Callable[[], None]
    #: `(table, rows, rejected)`: a batch committed (loader thread), for the run's tally.
    batch_committed: Callable[[str, int, int], None]
    #: A loader thread counted its commit: write the states it completes.
    batch_loaded: Callable[[], None]
