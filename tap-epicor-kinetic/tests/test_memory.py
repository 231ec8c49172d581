"""What the tap keeps in memory while it reads: bounded by the open documents, not the history."""

from __future__ import annotations

import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from tap_epicor_kinetic import documents

INVOICE_STREAMS = {"ap_invoices", "ap_invoice_lines", "ap_invoice_gl_allocations"}
#: Generous room per document kept (its key and the keys of its lines and allocations).
BYTES_PER_KEPT_DOCUMENT = 4096


def test_posted_documents_are_not_kept_while_the_stream_is_read(
    epicor_sandbox: Any, tap_runner: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A first run reads every invoice ever entered, almost all of them posted.

    Only documents still in entry (or remembered from the last run) need their child keys kept
    until the end of the stream: a posted invoice cannot be deleted. At 1,000,000 invoices the
    tap grew without bound when it kept them all.
    """
    held: list[int] = []
    reread = documents.OpenDocuments.reread

    def observed(self: documents.OpenDocuments, *args: Any) -> Any:
        # The incremental read is over: what documents.py still holds now is what it kept.
        snapshot = tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(True, str(Path(documents.__file__)))]
        )
        held.append(sum(stat.size for stat in snapshot.statistics("filename")))
        return reread(self, *args)

    monkeypatch.setattr(documents.OpenDocuments, "reread", observed)
    config = epicor_sandbox.tap_config()
    catalog = tap_runner.select_only(config, INVOICE_STREAMS)
    tracemalloc.start()
    try:
        result = tap_runner.sync(config, catalog=catalog)
    finally:
        tracemalloc.stop()

    invoices = epicor_sandbox.truth("ap_invoices")
    still_open = sum(1 for row in invoices if not row["Posted"])
    assert len(result.records["ap_invoices"]) == len(invoices) > 10 * (still_open + 1)
    assert held, "the stream never re-read its open documents: the test proves nothing"
    assert max(held) < BYTES_PER_KEPT_DOCUMENT * (still_open + 1), (max(held), still_open)
