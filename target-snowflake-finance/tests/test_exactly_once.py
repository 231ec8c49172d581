"""Issue 12 point 3: a batch whose COMMIT took effect but whose answer was lost lands once."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

PROPS: dict[str, Any] = {
    "InvoiceNum": {"type": "string"},
    "InvoiceAmt": {"type": ["number", "null"], "multipleOf": 0.01},
}


@pytest.mark.parametrize("load_method", ["upsert", "append-only", "overwrite"])
def test_a_commit_whose_response_is_lost_is_not_loaded_again(
    config, run_target, singer, table_rows, snowflake_sandbox, load_method
) -> None:
    config.update(load_method=load_method, on_invalid_record="quarantine", batch_size_rows=3)
    # The first batch's COMMIT runs on the server, then the client is told the session expired
    # (as when the response is lost): its outcome is unknown to the target.
    snowflake_sandbox.fail_next(r"^COMMIT", times=1, code="390114", after=True)
    records = [{"InvoiceNum": str(n), "InvoiceAmt": Decimal(f"{n}.25")} for n in range(1, 6)]
    records.insert(1, {"InvoiceNum": "bad", "InvoiceAmt": "ten"})
    states = run_target(
        config,
        [singer.schema("ap_invoices", PROPS, ["InvoiceNum"])]
        + [singer.record("ap_invoices", r) for r in records]
        + [singer.state({"bookmarks": {"ap_invoices": {"n": 5}}})],
    )
    assert [f["taken"] for f in snowflake_sandbox.faults()] == [1]
    snowflake_sandbox.clear_faults()
    assert table_rows("AP_INVOICES", "INVOICENUM") == [(str(n),) for n in range(1, 6)]
    audit = table_rows("_SDC_LOAD_AUDIT", "STATUS, ROWS_LOADED, ROWS_REJECTED", "2 DESC")
    assert audit == [("committed", 3, 0), ("committed", 2, 1)]
    assert table_rows("_SDC_REJECTS", "RECORD_KEY") == [("InvoiceNum='bad'",)]
    assert states[-1] == {"bookmarks": {"ap_invoices": {"n": 5}}}
