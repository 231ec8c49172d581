"""One stream's batches from records to a commit: Parquet → PUT → COPY INTO staging → MERGE.

The reading thread converts a batch (`prepare`) and hands it over (`submit`); the stream's
LoadPipeline stages it on the stager's connection and loads it on the sink's own, retrying
transient failures, and dead-letters a batch that still fails. Replay loads a batch at once
(`load_now`).
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import logging
import shutil
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pyarrow as pa
import pyarrow.parquet as pq

from target_snowflake_finance import leftovers, shutdown, spill, sql
from target_snowflake_finance.audit import (
    STATUS_COMMITTED,
    STATUS_FAILED,
    BatchAudit,
    committed_sql,
    insert_audit_sql,
    record_json,
    write_dead_letter,
)
from target_snowflake_finance.batch import BatchMetadata
from target_snowflake_finance.batch_columns import BatchColumns, Reject, key_text
from target_snowflake_finance.connector import Session
from target_snowflake_finance.errors import BatchLoadError, Classification, classify, with_retries
from target_snowflake_finance.naming import quote
from target_snowflake_finance.pipeline import MAX_IN_FLIGHT, LoadPipeline
from target_snowflake_finance.services import LoadServices
from target_snowflake_finance.table_plan import TablePlan


@dataclass
class PreparedBatch:
    """A batch converted by the reading thread, ready to stage and load in the background."""

    number: int
    records_file: Path  # the records, for the dead-letter file should the load fail (spill.py)
    metadata: BatchMetadata | None
    rejects: list[Reject]
    loadable: int
    audit: BatchAudit
    slot: int  # which of the sink's staging tables it is copied into
    data_file: Path
    rejects_file: Path | None
    filled: bool = False  # copied into its staging table ahead of its load


class BatchLoader:
    """Stages and loads one stream's batches into its table, by the table plan."""

    def __init__(
        self,
        *,
        services: LoadServices,
        config: Mapping[str, Any],
        session: Session,
        stream_name: str,
        table: str,
        schema: dict,
        logger: logging.Logger,
    ) -> None:
        self.services = services
        self.config = config
        self.session = session  # the loader's connection (the sink's own)
        self.stream_name = stream_name
        self.table = table
        self.schema = schema  # as the SCHEMA message had it, for the dead-letter file
        self.logger = logger
        self.load_id = services.load_id
        self.max_retries = int(config["max_retries"])
        self.quarantine = config["on_invalid_record"] == "quarantine"
        # Without manage_tables the role may create nothing: the batch is staged in a
        # TEMPORARY table, which needs no CREATE TABLE grant (Snowflake's CREATE TABLE access
        # control) and goes with the session. Unqualified: it lives in the session's schema.
        # It belongs to the loader's session, which fills it itself; otherwise the stager fills
        # one staging table while the loader merges from another (one per batch in flight).
        self.temporary_staging = not config["manage_tables"]
        slots = 1 if self.temporary_staging else MAX_IN_FLIGHT
        # Only word characters: the staging table is ours, and COPY tooling need not quote it.
        names = [leftovers.staging_name(table, uuid.uuid4().hex[:8].upper()) for _ in range(slots)]
        self.staging_refs = [
            quote(name) if self.temporary_staging else session.table_ref(name) for name in names
        ]
        self._plan: TablePlan | None = None
        self._columns: BatchColumns | None = None
        self._workdir = leftovers.new_workdir()
        self._cleaned = False
        self._batch_counter = itertools.count(1)
        # Background stage and load (pipeline.py), started with the first batch; counters the
        # target compares to know which STATE is covered by commits.
        self._pipeline: LoadPipeline[PreparedBatch] | None = None
        self._stager: Session | None = None
        self.batches_submitted = 0
        self.batches_committed = 0
        self._unremoved: set[str] = set()  # batches whose staged files are still in the stage

    @property
    def plan(self) -> TablePlan:
        if self._plan is None:
            raise RuntimeError("the table is not prepared yet (BatchLoader.start)")
        return self._plan

    def start(self, plan: TablePlan) -> None:
        """Load by `plan` from now on; create the permanent staging tables it names."""
        self._plan = plan
        self._columns = BatchColumns(plan, self.load_id, self.stream_name, self.quarantine)
        if not self.temporary_staging:
            for staging in self.staging_refs:
                self.session.execute(plan.create_staging_sql[staging])

    # The reading thread

    def prepare(
        self,
        records: list[dict[str, Any]],
        batch_id: str,
        rejects: list[Reject] | None,
        dead_letter_file: str | None,
        metadata: BatchMetadata | None,
    ) -> PreparedBatch:
        """The reading thread's share of a batch: its columns, rejects, audit and Parquet file."""
        assert self._columns is not None
        plan = self.plan
        rejects = list(rejects or [])
        arrays, value_rejects = self._columns.arrays(records, metadata)
        rejects += value_rejects
        for reject in rejects:
            self.logger.warning(
                "quarantined a record of stream %r (key %s): %s",
                self.stream_name,
                key_text(plan.key_fields, reject.record),
                " ".join(reject.reason.split()),
            )
        low, high = self._columns.key_range(arrays)
        audit = BatchAudit(
            load_id=self.load_id,
            batch_id=batch_id,
            stream=self.stream_name,
            table_name=plan.table_ref,
            load_method=plan.load_method,
            rows_received=len(records) + len(rejects) - len(value_rejects),
            replication_key=plan.replication_key,
            min_replication_key=low,
            max_replication_key=high,
            dead_letter_file=dead_letter_file,
        )
        data_file = self._workdir / f"{batch_id}.parquet"
        names = [sql.staged(i) for i in range(len(plan.fields))]
        pq.write_table(pa.Table.from_arrays(arrays, names=names), data_file)
        del arrays  # before the records are written out: one copy of the batch at a time
        rejects_file = self._write_rejects(rejects, batch_id) if rejects else None
        records_file = self._workdir / f"{batch_id}-records.jsonl"
        spill.write_records(records_file, records)
        audit.staged_at = dt.datetime.now(dt.UTC)
        audit.rows_rejected = len(rejects)
        number = next(self._batch_counter)
        return PreparedBatch(
            number=number,
            slot=(number - 1) % len(self.staging_refs),
            records_file=records_file,
            metadata=metadata,
            rejects=rejects,
            loadable=len(records) - len(value_rejects),
            audit=audit,
            data_file=data_file,
            rejects_file=rejects_file,
        )

    def submit(self, batch: PreparedBatch) -> None:
        """Hand a converted batch to the stream's pipeline (stage, then load, in the background)."""
        if self._pipeline is None:
            self._pipeline = LoadPipeline(self.table, self._stage_ahead, self._load_queued)
        self.batches_submitted += 1
        self.services.batch_submitted()  # also raises another stream's failure, if any
        self._pipeline.submit(batch)

    def load_now(
        self,
        records: list[dict[str, Any]],
        *,
        batch_id: str,
        rejects: list[Reject] | None = None,
        dead_letter_file: str | None = None,
        metadata: BatchMetadata | None = None,
    ) -> BatchAudit:
        """Load one batch now (retrying transient failures); dead-letter it if it still fails."""
        batch = self.prepare(records, batch_id, rejects, dead_letter_file, metadata)
        return self._load(batch, None)

    def wait_loaded(self) -> None:
        """Until every batch handed over is committed; raises the first failure."""
        if self._pipeline is not None:
            self._pipeline.wait()

    @property
    def load_failure(self) -> BaseException | None:
        return self._pipeline.failure if self._pipeline is not None else None

    def close(self) -> None:
        """The end of the input: what is queued (file removal) runs."""
        if self._pipeline is not None:
            self._pipeline.close()

    def clean_up_now(self) -> None:
        """Stop loading, remove staged files, staging tables and the temp dir; once."""
        if self._cleaned:
            return
        self._cleaned = True
        if self._pipeline is not None:
            self._pipeline.close(drop=True)  # a failed run: batches not loaded yet stay so
        if self._stager is not None:
            self._stager.close()
            self._stager = None
        if not shutdown.STOPPING.is_set():
            for batch_id in list(self._unremoved):
                self._remove_staged(batch_id)
        for staging in self.staging_refs:
            drop = functools.partial(self.session.execute, sql.drop_table(staging))
            leftovers.quietly("drop staging table", drop)
        self.session.close()
        shutil.rmtree(self._workdir, ignore_errors=True)

    def _write_rejects(self, rejects: list[Reject], batch_id: str) -> Path:
        now = dt.datetime.now(dt.UTC)
        keys = self.plan.key_fields
        table = pa.table(
            {
                "LOAD_ID": [self.load_id] * len(rejects),
                "BATCH_ID": [batch_id] * len(rejects),
                "STREAM": [self.stream_name] * len(rejects),
                "TABLE_NAME": [self.plan.table_ref] * len(rejects),
                "RECORD_KEY": [key_text(keys, r.record) for r in rejects],
                "REASON": [r.reason for r in rejects],
                "RECORD": [record_json(r.record) for r in rejects],
                "REJECTED_AT": pa.array([now] * len(rejects), pa.timestamp("us", tz="UTC")),
            }
        )
        path = self._workdir / f"{batch_id}-rejects.parquet"
        pq.write_table(table, path)
        return path

    # The stager and loader threads

    def _stage_ahead(self, batch: PreparedBatch) -> None:
        """Upload a batch's files for its first attempt and copy them into its staging table,
        on the stager's own connection, while the batch before it merges."""
        if self._stager is None:
            self._stager = Session(self.config)
        self._put(self._stager, batch, attempt=1)
        if not self.temporary_staging:
            self._fill_staging(self._stager, batch, attempt=1)
            batch.filled = True

    def _load_queued(self, batch: PreparedBatch, staging_error: BaseException | None) -> None:
        self._load(batch, staging_error, staged_ahead=staging_error is None)
        self.batches_committed += 1
        self.services.batch_loaded()

    def _load(
        self,
        batch: PreparedBatch,
        staging_error: BaseException | None,
        *,
        staged_ahead: bool = False,
    ) -> BatchAudit:
        """Load a prepared batch (retrying transient failures); dead-letter it if it still fails."""
        audit = batch.audit

        def attempt(n: int) -> int:
            if n > 1 and self._committed_before(audit):
                return batch.loadable
            audit.attempts = n
            ahead = staged_ahead and n == 1
            if not ahead:
                self._put(self.session, batch, attempt=n)
            return self._load_attempt(batch, n, filled=ahead and batch.filled)

        try:
            loaded, attempts = with_retries(
                attempt, max_retries=self.max_retries, on_transient=self._prepare_retry
            )
        except Exception as exc:
            records = spill.read_records(batch.records_file)
            if batch.metadata is not None:
                records = batch.metadata.attach(records)
            self._dead_letter(records, batch.rejects, audit, exc)
        finally:
            batch.data_file.unlink(missing_ok=True)
            batch.records_file.unlink(missing_ok=True)
            if batch.rejects_file is not None:
                batch.rejects_file.unlink(missing_ok=True)
            # Every attempt's files (finance data) go, whether the batch landed or not.
            self._remove_staged(audit.batch_id)
        audit.attempts = attempts
        audit.rows_loaded = loaded
        self.services.batch_committed(self.table, loaded, len(batch.rejects))
        self.logger.info(
            "Batch %d of %s: %d rows into %s, %d rejected, %d attempt(s)",
            batch.number,
            self.stream_name,
            loaded,
            self.plan.table_ref,
            len(batch.rejects),
            attempts,
        )
        return audit

    def _remove_staged(self, batch_id: str) -> None:
        """Remove a batch's staged files: later on the stager's connection when there is one."""
        stage = self.services.stage_ref

        def remove() -> None:
            session = self._stager or self.session
            leftovers.quietly(
                "remove staged files",
                lambda: session.execute(sql.remove(stage, f"{self.load_id}/{batch_id}")),
            )
            self._unremoved.discard(batch_id)

        if self._pipeline is not None and not self._cleaned:
            self._pipeline.later(remove)
        else:
            remove()

    def _committed_before(self, audit: BatchAudit) -> bool:
        """Did an earlier attempt commit although it failed as far as we saw (lost COMMIT reply)?

        The audit row is written in the batch's own transaction, so it is there exactly when the
        rows, rejects and the overwrite's DELETE are: a retry would load the batch twice.
        """
        rows = self.session.execute(
            committed_sql(self.services.audit_ref),
            {"load_id": self.load_id, "batch_id": audit.batch_id},
        )
        if not rows or not int(rows[0][0] or 0):
            return False
        self.logger.warning(
            "Batch %s of %s committed although its last attempt reported a failure: not "
            "loading it again",
            audit.batch_id,
            self.stream_name,
        )
        # That attempt's overwrite happened: later batches of the run must not replace it.
        self.services.claims.claim_overwrite(self.plan.table_ref, self.plan.load_method)
        return True

    def _prepare_retry(self, exc: BaseException, verdict: Classification, attempt: int) -> None:
        self.session.rollback_quietly()
        if verdict.reconnect:
            self.session.reconnect()
        if verdict.resume_warehouse and self.config["resume_warehouse"]:
            try:
                self.session.resume_warehouse()
            except Exception as e:
                self.logger.warning("Resuming the warehouse failed: %s", classify(e).reason)

    def _prefix(self, batch: PreparedBatch, attempt: int) -> str:
        """Each attempt's files under a prefix of their own."""
        return f"{self.load_id}/{batch.audit.batch_id}/{attempt}"

    def _put(self, session: Session, batch: PreparedBatch, attempt: int) -> None:
        """Upload a batch's files to the stage."""
        stage, prefix = self.services.stage_ref, self._prefix(batch, attempt)
        self._unremoved.add(batch.audit.batch_id)
        session.execute(sql.put(batch.data_file, stage, prefix, "data"))
        if batch.rejects_file is not None:
            session.execute(sql.put(batch.rejects_file, stage, prefix, "rejects"))

    def _fill_staging(self, session: Session, batch: PreparedBatch, attempt: int) -> None:
        """Empty the batch's staging table and COPY its staged file in (outside a transaction:
        the table is this sink's own)."""
        staging = self.staging_refs[batch.slot]
        stage, prefix = self.services.stage_ref, self._prefix(batch, attempt)
        if self.temporary_staging:
            # Recreated per attempt: a reconnect before a retry drops a temporary table (and the
            # local Snowflake cannot write a temporary and a permanent table in one transaction).
            session.execute(self.plan.create_staging_sql[staging])
        session.execute(sql.truncate(staging))
        copied = session.execute(sql.copy_into_staging(staging, stage, prefix))
        rows_copied = sum(int(r[3] or 0) for r in copied if len(r) > 3)
        if rows_copied != batch.loadable:
            raise BatchLoadError(f"COPY loaded {rows_copied} of {batch.loadable} rows into staging")

    def _load_attempt(self, batch: PreparedBatch, attempt: int, *, filled: bool) -> int:
        """One transaction: MERGE (or INSERT) from the staging table, rejects and the audit row."""
        audit, expected_rows = batch.audit, batch.loadable
        plan, services = self.plan, self.services
        s = self.session
        overwrite = False
        try:
            if not filled:
                self._fill_staging(s, batch, attempt)
            s.execute(sql.BEGIN)
            overwrite = services.claims.claim_overwrite(plan.table_ref, plan.load_method)
            if overwrite:
                s.execute(sql.delete_all(plan.table_ref))
            s.execute(plan.load_sql[self.staging_refs[batch.slot]])
            if batch.rejects_file is not None:
                prefix = self._prefix(batch, attempt)
                s.execute(sql.copy_rejects(services.rejects_ref, services.stage_ref, prefix))
            audit.attempts = attempt
            audit.rows_loaded = expected_rows
            audit.status = STATUS_COMMITTED
            audit.finished_at = dt.datetime.now(dt.UTC)
            s.execute(insert_audit_sql(services.audit_ref), audit.params())
            s.execute(sql.COMMIT)
        except BaseException:
            s.rollback_quietly()
            if overwrite:
                services.claims.release_overwrite(plan.table_ref)
            raise
        return expected_rows

    def _dead_letter(
        self,
        records: list[dict[str, Any]],
        rejects: list[Reject],
        audit: BatchAudit,
        exc: BaseException,
    ) -> NoReturn:
        verdict = classify(exc)
        error = f"{type(exc).__name__}: {exc}"
        directory = self.services.dead_letter_dir
        plan = self.plan
        try:
            path = write_dead_letter(
                directory,
                {
                    "load_id": self.load_id,
                    "batch_id": audit.batch_id,
                    "stream": self.stream_name,
                    "table": plan.table_ref,
                    "key_properties": list(plan.key_fields),
                    "bookmark_properties": [plan.replication_key] if plan.replication_key else [],
                    "schema": self.schema,
                    "load_method": plan.load_method,
                    "error": error,
                    "error_kind": verdict.reason,
                    "attempts": audit.attempts,
                    "failed_at": dt.datetime.now(dt.UTC).isoformat(),
                    "row_count": len(records),
                    "records": records,
                    "rejects": [{"reason": r.reason, "record": r.record} for r in rejects],
                },
            )
        except OSError as e:
            raise BatchLoadError(
                f"stream {self.stream_name!r}: batch {audit.batch_id} could not be loaded into "
                f"{plan.table_ref} ({verdict.reason}): {error}; and dead_letter_dir {directory} "
                f"is not writable ({e.strerror}): fix dead_letter_dir; the batch is not saved, "
                "rerun from the last state"
            ) from exc
        audit.status = STATUS_FAILED
        audit.error = error
        audit.dead_letter_file = str(path)
        audit.rows_loaded = 0
        audit.finished_at = dt.datetime.now(dt.UTC)
        try:
            self.session.reconnect()
            self.session.execute(insert_audit_sql(self.services.audit_ref), audit.params())
        except Exception as e:
            self.logger.warning(
                "Could not record the failed batch in the audit table: %s", classify(e).reason
            )
        raise BatchLoadError(
            f"stream {self.stream_name!r}: batch {audit.batch_id} could not be loaded into "
            f"{plan.table_ref} ({verdict.reason}): {error}. It was written to {path}; fix the "
            "cause and run `target-snowflake-finance replay --config ...`"
        ) from exc
