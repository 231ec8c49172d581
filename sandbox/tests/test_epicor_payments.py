"""Where payments live, over real HTTP: PaymentEntries serves checks still in entry; the group
posting process moves a check (same HeadNum) to CheckRecSearchSvc and its lines to
APTranSearchSvc; a check held in a long transaction does not hand its HeadNum to the next."""

from __future__ import annotations

from typing import Any

import pytest
from finance_sandbox.demo import source_vendor_totals
from finance_sandbox.testing.epicor import EpicorSandbox

ENTRY = ("Erp.BO.PaymentEntrySvc", "PaymentEntries")
POSTED = ("Erp.BO.CheckRecSearchSvc", "CheckRecSearches")
POSTED_LINES = ("Erp.BO.APTranSearchSvc", "APTranSearches")


@pytest.fixture
def sb(epicor_sandbox_factory) -> EpicorSandbox:
    """A fresh, small emulator: these tests change data."""
    return epicor_sandbox_factory(invoices=60)


def rows(sb: EpicorSandbox, where: tuple[str, str], **params: Any) -> list[dict[str, Any]]:
    with sb.session() as s:
        resp = s.get(sb.odata_url(where[0], where[1]), params={"$top": 1000, **params}, timeout=30)
    assert resp.status_code == 200, resp.text
    found: list[dict[str, Any]] = resp.json()["value"]
    return found


def heads(sb: EpicorSandbox, where: tuple[str, str], **params: Any) -> set[int]:
    return {r["HeadNum"] for r in rows(sb, where, **params)}


def test_posting_moves_a_check_out_of_payment_entry_with_its_key(sb: EpicorSandbox) -> None:
    history = heads(sb, POSTED, **{"$filter": "Posted eq true"})
    assert history, "the generated history has posted checks"
    assert heads(sb, ENTRY) == set(), "posted history is not served by the entry service"
    head = sb.activity(new_unposted_payments=1)["new_unposted_payments"][0]
    assert heads(sb, ENTRY) == {head}
    entry = rows(sb, ENTRY, **{"$filter": f"HeadNum eq {head}", "$expand": "APTrans"})[0]
    assert entry["Posted"] is False
    assert entry["APTrans"]

    assert sb.activity(posted_payments=1)["posted_payments"] == [head]
    assert heads(sb, ENTRY) == set()
    with sb.session() as s:
        gone = s.get(sb.odata_url(*ENTRY) + f"('EPIC06',{head})", timeout=30)
    assert gone.status_code == 404
    posted = rows(sb, POSTED, **{"$filter": f"HeadNum eq {head}"})
    assert len(posted) == 1
    assert posted[0]["Posted"] is True
    assert posted[0]["SysRevID"] > entry["SysRevID"]
    lines = rows(sb, POSTED_LINES, **{"$filter": f"HeadNum eq {head}"})
    assert {(r["APTranNo"], r["InvoiceNum"]) for r in lines} == {
        (r["APTranNo"], r["InvoiceNum"]) for r in entry["APTrans"]
    }
    assert all(r["Posted"] is True for r in lines)
    # Posting pays the invoices: their balances drop by the lines' amounts.
    invoices = {(r["VendorNum"], r["InvoiceNum"]): r for r in sb.truth("ap_invoices")}
    for line in lines:
        assert line["InvoiceBal"] == invoices[(line["VendorNum"], line["InvoiceNum"])]["InvoiceBal"]


def test_entry_shows_posted_keeps_the_old_behaviour(epicor_sandbox_factory) -> None:
    sb = epicor_sandbox_factory(invoices=60, entry_shows_posted=True)
    assert heads(sb, ENTRY) == heads(sb, POSTED)


def test_search_services_are_described_in_metadata(sb: EpicorSandbox) -> None:
    for service, entity_set in (POSTED, POSTED_LINES):
        with sb.session() as s:
            xml = s.get(sb.odata_url(service, "$metadata"), timeout=30).text
        assert f'<EntitySet Name="{entity_set}"' in xml
        assert '<PropertyRef Name="HeadNum"/>' in xml


def test_a_held_check_keeps_its_head_num_from_the_next_check(sb: EpicorSandbox) -> None:
    sb.hold_commits(1, None)
    late = sb.activity(new_unposted_payments=1)["new_unposted_payments"][0]
    later = sb.activity(new_unposted_payments=1)["new_unposted_payments"][0]
    assert later != late
    sb.commit_late()
    entry = rows(sb, ENTRY, **{"$expand": "APTrans"})
    assert {r["HeadNum"] for r in entry} == {late, later}
    assert len({r["CheckNum"] for r in entry}) == 2
    assert all(r["APTrans"] for r in entry)


def test_the_demo_report_counts_posted_payments_only(sb: EpicorSandbox) -> None:
    """Open AP = invoices - payments holds with checks in entry (they pay nothing yet)."""
    sb.activity(new_unposted_payments=2)
    totals = source_vendor_totals(sb.root, sb.company)
    assert [num for num, t in totals.items() if not t.consistent] == []
    sb.activity(posted_payments=2)
    totals = source_vendor_totals(sb.root, sb.company)
    assert [num for num, t in totals.items() if not t.consistent] == []
