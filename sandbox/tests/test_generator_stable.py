"""The seeded dataset is a contract: every fixture, test and benchmark expects the same rows.

Refactoring the generator must not change one value or the order of random draws, so these
pin a digest of every stored row (and the meta table) for the default seed at two sizes.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest
from finance_sandbox.epicor.generator import generate
from finance_sandbox.epicor.model import STORED

# Computed from the generator at GENERATOR_VERSION 6, before _gen_documents was split up.
DIGESTS = {
    50: "73541bf798f7e57160d5dd42b7c37a688a36933196a578e9589f58ee5de20635",
    300: "bfa58fd98ee621cce3aa1441e56794788248f464fe0347333c8182b69d8fe22b",
}


def dataset_digest(path: Path) -> str:
    """SHA-256 of every table's rows in insertion order, as canonical JSON."""
    conn = sqlite3.connect(path)
    try:
        tables = {
            table: [list(r) for r in conn.execute(f"SELECT * FROM {table} ORDER BY rowid")]
            for table in [*STORED, "meta"]
        }
    finally:
        conn.close()
    text = json.dumps(tables, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.mark.parametrize("invoices", sorted(DIGESTS))
def test_default_seed_generates_the_same_rows(tmp_path: Path, invoices: int) -> None:
    path = tmp_path / "epicor.sqlite"
    generate(path, seed=42, invoices=invoices)
    assert dataset_digest(path) == DIGESTS[invoices]
