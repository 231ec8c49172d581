"""The least any Singer loader must do: JSON lines → one Parquet file → PUT → COPY → MERGE.

Run: `python benchmarks/minimal_loader.py CONNECT_JSON < singer-messages.jsonl` (one stream).

The baseline of benchmarks/target_throughput.py: it reads SCHEMA and RECORD lines from stdin with
`json.loads`, gathers each field's values in a list, builds one Parquet file with pyarrow's own
type inference, PUTs it to a stage, COPYs it into a transient staging table and MERGEs that into
the destination table on the key properties, casting text to the destination's column types.
No validation, no metadata columns, no batching, no audit, no retries, no dedupe. Prints the last
STATE line. CONNECT_JSON holds `{"connect": {...connector kwargs...}, "column_types": {field:
sql}}`.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import snowflake.connector

# No cloud-metadata probes at login (loopback only), as in the target.
os.environ.setdefault("SNOWFLAKE_DISABLE_PLATFORM_DETECTION", "true")

STAGING_TYPES = {
    pa.int64(): "BIGINT",
    pa.bool_(): "BOOLEAN",
    pa.float64(): "DOUBLE",
}


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    column_types: dict[str, str] = spec["column_types"]
    stream = ""
    keys: list[str] = []
    fields: list[str] = []
    values: dict[str, list[Any]] = {}
    state = None
    for line in sys.stdin:
        message = json.loads(line)
        kind = message["type"]
        if kind == "RECORD":
            record = message["record"]
            for field in fields:
                values[field].append(record.get(field))
        elif kind == "SCHEMA":
            stream = message["stream"]
            keys = message["key_properties"]
            fields = list(message["schema"]["properties"])
            values = {field: [] for field in fields}
        elif kind == "STATE":
            state = message["value"]
    table = pa.table({f.upper(): pa.array(values[f]) for f in fields})
    del values
    name = stream.upper()
    with (
        tempfile.TemporaryDirectory() as tmp,
        snowflake.connector.connect(**spec["connect"]) as conn,
    ):
        path = Path(tmp) / "batch.parquet"
        pq.write_table(table, path)
        cur = conn.cursor()
        columns = [f.upper() for f in fields]
        cur.execute(
            f"CREATE TABLE IF NOT EXISTS {name} ("
            + ", ".join(f'"{c}" {column_types[f]}' for c, f in zip(columns, fields, strict=True))
            + ")"
        )
        staged = ", ".join(
            f'"{c}" {STAGING_TYPES.get(table.schema.field(c).type, "VARCHAR")}' for c in columns
        )
        cur.execute(f"CREATE OR REPLACE TRANSIENT TABLE {name}_STG ({staged})")
        cur.execute("CREATE STAGE IF NOT EXISTS MINIMAL_STAGE")
        cur.execute(
            f"PUT 'file://{path}' @MINIMAL_STAGE/{name}/ AUTO_COMPRESS=FALSE OVERWRITE=TRUE"
        )
        cur.execute(
            f"COPY INTO {name}_STG FROM @MINIMAL_STAGE/{name}/ FILE_FORMAT = (TYPE = PARQUET) "
            "MATCH_BY_COLUMN_NAME = CASE_SENSITIVE"
        )
        source = ", ".join(
            f'CAST("{c}" AS {column_types[f]}) AS "{c}"'
            for c, f in zip(columns, fields, strict=True)
        )
        on = " AND ".join(f't."{k.upper()}" = s."{k.upper()}"' for k in keys)
        key_columns = {k.upper() for k in keys}
        updates = ", ".join(f'"{c}" = s."{c}"' for c in columns if c not in key_columns)
        quoted = ", ".join(f'"{c}"' for c in columns)
        inserts = ", ".join(f's."{c}"' for c in columns)
        cur.execute(
            f"MERGE INTO {name} t USING (SELECT {source} FROM {name}_STG) s ON {on} "
            f"WHEN MATCHED THEN UPDATE SET {updates} "
            f"WHEN NOT MATCHED THEN INSERT ({quoted}) VALUES ({inserts})"
        )
        cur.execute(f"DROP TABLE {name}_STG")
    print(json.dumps({"type": "STATE", "value": state}), flush=True)


if __name__ == "__main__":
    main()
