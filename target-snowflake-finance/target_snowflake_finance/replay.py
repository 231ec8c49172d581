"""`target-snowflake-finance replay`: reload dead-letter batches idempotently, report them."""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
from pathlib import Path
from typing import Any

from target_snowflake_finance.audit import (
    STATUS_COMMITTED,
    dead_letter_files,
    read_dead_letter,
    report_line,
)
from target_snowflake_finance.errors import TargetConfigError
from target_snowflake_finance.sinks import Reject, SnowflakeSink

logger = logging.getLogger("target_snowflake_finance")


def load_config(paths: list[str]) -> dict[str, Any]:
    """The config files merged in order (a later file wins)."""
    config: dict[str, Any] = {}
    for path in paths:
        config.update(json.loads(Path(path).read_text(encoding="utf-8")))
    return config


def _already_committed(sink: SnowflakeSink, batch_id: str) -> bool:
    rows = sink.session.execute(
        f"SELECT COUNT(*) FROM {sink.services.audit_ref} "
        "WHERE BATCH_ID = %(batch)s AND STATUS = %(status)s",
        {"batch": batch_id, "status": STATUS_COMMITTED},
    )
    return bool(rows and rows[0][0])


def replay(config: dict[str, Any], directory: Path | None = None) -> list[dict[str, Any]]:
    """Reload every pending dead-letter file; a batch already committed is not loaded twice."""
    from target_snowflake_finance.target import TargetSnowflakeFinance

    target = TargetSnowflakeFinance(config=config, validate_config=True)
    folder = directory or target.dead_letter_dir
    done = folder / "replayed"
    results: list[dict[str, Any]] = []
    for path in dead_letter_files(folder.expanduser()):
        data = read_dead_letter(path)
        stream = data["stream"]
        target.on_schema(  # registers bookmark + sink like a SCHEMA line
            {
                "type": "SCHEMA",
                "stream": stream,
                "schema": data["schema"],
                "key_properties": data.get("key_properties") or [],
                "bookmark_properties": data.get("bookmark_properties") or [],
            }
        )
        sink = target.get_sink(stream)
        assert isinstance(sink, SnowflakeSink)
        result: dict[str, Any] = {
            "file": path.name,
            "stream": stream,
            "table": sink.table_ref,
            "batch_id": data["batch_id"],
        }
        try:
            if _already_committed(sink, data["batch_id"]):
                result.update(status="already loaded", rows=0)
            else:
                rejects = [Reject(r["record"], r["reason"]) for r in data.get("rejects") or []]
                audit = sink.loader.load_now(
                    data["records"],
                    batch_id=data["batch_id"],
                    rejects=rejects,
                    dead_letter_file=str(path),
                )
                result.update(status="loaded", rows=audit.rows_loaded, rejected=audit.rows_rejected)
        except Exception as e:  # report and go on with the next file
            result.update(status="failed", error=str(e))
            results.append(result)
            continue
        done.mkdir(parents=True, exist_ok=True, mode=0o700)
        shutil.move(str(path), done / path.name)
        results.append(result)
    for sink in list(target.active_sinks.values()):
        sink.clean_up()
    return results


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="target-snowflake-finance replay",
        description="Reload batches from dead_letter_dir (idempotent) and report what was loaded.",
    )
    parser.add_argument(
        "--config", action="append", required=True, help="config JSON file (repeatable)"
    )
    parser.add_argument("--dead-letter-dir", help="override the config's dead_letter_dir")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(message)s")
    try:
        config = load_config(args.config)
        results = replay(config, Path(args.dead_letter_dir) if args.dead_letter_dir else None)
    except TargetConfigError as e:
        print(f"replay: {e}", file=sys.stderr)  # noqa: T201
        return 2
    for result in results:
        print(report_line(**result))  # noqa: T201
    loaded = sum(1 for r in results if r["status"] == "loaded")
    rows = sum(int(r.get("rows") or 0) for r in results)
    skipped = sum(1 for r in results if r["status"] == "already loaded")
    failed = sum(1 for r in results if r["status"] == "failed")
    print(  # noqa: T201
        f"replay: {loaded} batch(es) loaded ({rows} rows), {skipped} already loaded, "
        f"{failed} failed, from {len(results)} dead-letter file(s)",
        file=sys.stderr,
    )
    return 1 if failed else 0
