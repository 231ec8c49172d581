"""Generated data: internal consistency, determinism for a seed, and the stock-Kinetic switch."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import requests
from finance_sandbox.testing.epicor import EpicorSandbox


def test_invoice_totals_tie_out_to_lines_misc_tax_and_allocations(
    epicor_sandbox: EpicorSandbox,
) -> None:
    """Per invoice: lines + misc charges + taxes = InvoiceAmt (and Doc…) = every distribution."""
    for company in ("EPIC06", "EPIC07"):
        heads = epicor_sandbox.truth("ap_invoices", company=company)
        lines = epicor_sandbox.truth("ap_invoice_lines", company=company)
        exps = epicor_sandbox.truth("ap_invoice_gl_allocations", company=company)
        miscs = epicor_sandbox.truth("ap_invoice_misc_charges", company=company)
        taxes = epicor_sandbox.truth("ap_invoice_taxes", company=company)
        head_exps = epicor_sandbox.truth("ap_invoice_header_allocations", company=company)
        assert miscs
        assert taxes
        assert all(e["InvoiceLine"] == 0 for e in head_exps)
        parts: dict[tuple[int, str], list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
        for rows, amt, doc in (
            (lines, "ExtCost", "DocExtCost"),
            (miscs, "MiscAmt", "DocMiscAmt"),
            (taxes, "TaxAmt", "DocTaxAmt"),
        ):
            for row in rows:
                key = (row["VendorNum"], row["InvoiceNum"])
                parts[key][0] += row[amt]
                parts[key][1] += row[doc]
        distributed: dict[tuple[int, str], list[Decimal]] = defaultdict(
            lambda: [Decimal(0), Decimal(0)]
        )
        by_line: dict[tuple[int, str, int], Decimal] = defaultdict(Decimal)
        for e in exps + head_exps:
            distributed[(e["VendorNum"], e["InvoiceNum"])][0] += e["ExpAmt"]
            distributed[(e["VendorNum"], e["InvoiceNum"])][1] += e["DocExpAmt"]
            by_line[(e["VendorNum"], e["InvoiceNum"], e["InvoiceLine"])] += e["ExpAmt"]
        for head in heads:
            key = (head["VendorNum"], head["InvoiceNum"])
            assert parts[key] == [head["InvoiceAmt"], head["DocInvoiceAmt"]], key
            assert distributed[key] == [head["InvoiceAmt"], head["DocInvoiceAmt"]], key
        for line in lines:
            key3 = (line["VendorNum"], line["InvoiceNum"], line["InvoiceLine"])
            assert by_line[key3] == line["ExtCost"], key3
    assert len(epicor_sandbox.truth("ap_invoices", company="EPIC07")) < len(
        epicor_sandbox.truth("ap_invoices")
    )


def test_header_level_rows_are_served_through_expand(epicor_sandbox: EpicorSandbox) -> None:
    tax = epicor_sandbox.truth("ap_invoice_taxes")[0]
    with epicor_sandbox.session() as s:
        resp = s.get(
            epicor_sandbox.odata_url(
                "Erp.BO.APInvoiceSvc",
                f"APInvoices('EPIC06',{tax['VendorNum']},'{tax['InvoiceNum']}')",
            ),
            params={
                "$select": "InvoiceNum,InvoiceAmt",
                "$expand": "APInvTaxes($select=TaxCode,RateCode,ECAcquisitionSeq,TaxAmt),"
                "APIHAPInvMscs($select=MscNum,MiscAmt),APIHAPInvExps($select=InvExpSeq,ExpAmt)",
            },
            timeout=30,
        )
        assert resp.status_code == 200, resp.text
        body = resp.json(parse_float=Decimal)
        assert body["APInvTaxes"] == [
            {k: tax[k] for k in ("TaxCode", "RateCode", "ECAcquisitionSeq", "TaxAmt")}
        ]
        assert sum(e["ExpAmt"] for e in body["APIHAPInvExps"]) == tax["TaxAmt"] + sum(
            m["MiscAmt"] for m in body["APIHAPInvMscs"]
        )
        xml = s.get(epicor_sandbox.odata_url("Erp.BO.APInvoiceSvc", "$metadata"), timeout=30).text
    assert '<EntitySet Name="APInvTaxes" EntityType="Erp.APInvTax">' in xml
    assert '<NavigationProperty Name="APIHAPInvMscs" Type="Collection(Erp.APIHAPInvMsc)"/>' in xml
    assert '<Property Name="TaxAmt" Type="Edm.Decimal" Precision="18" Scale="3"' in xml


def test_payments_apply_to_posted_invoices_and_reduce_balance(
    epicor_sandbox: EpicorSandbox,
) -> None:
    heads = {(h["VendorNum"], h["InvoiceNum"]): h for h in epicor_sandbox.truth("ap_invoices")}
    checks = {c["HeadNum"]: c for c in epicor_sandbox.truth("ap_payments")}
    paid: dict[tuple[int, str], Decimal] = defaultdict(Decimal)
    per_check: dict[int, Decimal] = defaultdict(Decimal)
    for tran in epicor_sandbox.truth("ap_payment_lines"):
        key = (tran["VendorNum"], tran["InvoiceNum"])
        assert heads[key]["Posted"] is True
        assert checks[tran["HeadNum"]]["VendorNum"] == tran["VendorNum"]
        paid[key] += tran["TranAmt"]
        per_check[tran["HeadNum"]] += tran["TranAmt"]
    assert paid
    for key, head in heads.items():
        assert head["InvoiceBal"] == head["InvoiceAmt"] - paid.get(key, 0)
        assert head["OpenPayable"] == (head["Posted"] and head["InvoiceBal"] != 0)
    for head_num, check in checks.items():
        assert check["CheckAmt"] == per_check[head_num]
    assert any(h["InvoiceBal"] not in (0, h["InvoiceAmt"]) for h in heads.values())


def test_every_reference_is_valid(epicor_sandbox: EpicorSandbox) -> None:
    sb = epicor_sandbox
    vendors = {v["VendorNum"]: v for v in sb.truth("vendors")}
    parts = {p["PartNum"] for p in sb.truth("parts")}
    accounts = {a["GLAccount1"]: a for a in sb.truth("gl_accounts")}
    po_lines = {(d["PONUM"], d["POLine"]): d for d in sb.truth("purchase_order_lines")}
    pos = {p["PONum"]: p for p in sb.truth("purchase_orders")}
    segments = {(s["SegmentNbr"], s["SegmentCode"]): s for s in sb.truth("coa_segment_values")}
    categories = {c["CategoryID"]: c for c in sb.truth("gl_account_categories")}
    for head in sb.truth("ap_invoices"):
        vendor = vendors[head["VendorNum"]]
        assert head["VendorNumVendorID"] == vendor["VendorID"]
        assert head["VendorNumName"] == vendor["Name"]
        assert head["REFPONum"] == 0 or head["REFPONum"] in pos
    for line in sb.truth("ap_invoice_lines"):
        assert line["PartNum"] == "" or line["PartNum"] in parts
        if line["PONum"]:
            po_line = po_lines[(line["PONum"], line["POLine"])]
            assert po_line["VendorNum"] == line["VendorNum"]
    for e in sb.truth("ap_invoice_gl_allocations"):
        assert e["GLAccount"] in accounts
    for po in pos.values():
        assert po["VendorVendorID"] == vendors[po["VendorNum"]]["VendorID"]
    for d in po_lines.values():
        assert d["PartNum"] in parts
        assert d["PONUM"] in pos
    for account in accounts.values():
        natural, dept, site = account["GLAccount1"].split("|")
        assert (account["SegValue1"], account["SegValue2"], account["SegValue3"]) == (
            natural,
            dept,
            site,
        )
        assert {(1, natural), (2, dept), (3, site)} <= set(segments)
        assert segments[(1, natural)]["Category"] in categories
    for start in categories.values():
        seen = set()
        cat = start
        while cat["ParentCategory"]:
            assert cat["CategoryID"] not in seen
            seen.add(cat["CategoryID"])
            cat = categories[cat["ParentCategory"]]
        assert cat["ParentCategory"] == ""
    for check in sb.truth("ap_payments"):
        assert check["VendorNumName"] == vendors[check["VendorNum"]]["Name"]


def test_conventions_of_every_row(epicor_sandbox: EpicorSandbox) -> None:
    revs = set()
    for stream in (
        "vendors",
        "ap_invoices",
        "ap_invoice_lines",
        "purchase_orders",
        "ap_payment_lines",
    ):
        for row in epicor_sandbox.truth(stream):
            assert row["RowMod"] == ""
            assert row["BitFlag"] == 0
            assert len(row["SysRowID"]) == 36
            assert row["SysRevID"] not in revs
            revs.add(row["SysRevID"])
            if "ChangeDate" in row:
                assert row["ChangeDate"].endswith("T00:00:00")


def test_updated_on_flag_serves_millisecond_stamps(
    epicor_sandbox_updated_on: EpicorSandbox,
) -> None:
    for row in epicor_sandbox_updated_on.truth("ap_invoices")[:20]:
        assert row["UpdatedOn"][19] == "."
        assert len(row["UpdatedOn"]) == 23


def test_same_seed_same_rows_other_seed_other_rows(epicor_sandbox_factory, tmp_path) -> None:
    a = epicor_sandbox_factory(invoices=60, seed=7)
    b = EpicorSandbox(tmp_path, invoices=60, seed=7)
    c = epicor_sandbox_factory(invoices=60, seed=8)
    try:
        for stream in ("ap_invoices", "ap_invoice_gl_allocations", "ap_payment_lines", "vendors"):
            assert a.truth(stream) == b.truth(stream)
        assert a.truth("ap_invoices") != c.truth("ap_invoices")
    finally:
        b.stop()


def test_stock_kinetic_is_the_default_no_updated_on(epicor_sandbox: EpicorSandbox) -> None:
    sb = epicor_sandbox
    with sb.session() as s:
        row = s.get(
            sb.odata_url("Erp.BO.APInvoiceSvc", "APInvoices"), params={"$top": "1"}, timeout=30
        ).json()["value"][0]
        assert "UpdatedOn" not in row
        assert "ChangeDate" in row
        assert "SysRevID" in row
        metadata = s.get(sb.odata_url("Erp.BO.APInvoiceSvc", "$metadata"), timeout=30).text
        assert "UpdatedOn" not in metadata
        resp = s.get(
            sb.odata_url("Erp.BO.VendorSvc", "Vendors"),
            params={"$filter": "UpdatedOn gt 2024-01-01T00:00:00Z"},
            timeout=30,
        )
    assert resp.status_code == 400
    assert (
        "Could not find a property named 'UpdatedOn' on type 'Erp.Vendor'"
        in resp.json()["ErrorMessage"]
    )
    assert all("UpdatedOn" not in r for r in sb.truth("vendors"))
    by_rev = requests.get(
        sb.odata_url("Erp.BO.VendorSvc", "Vendors"),
        params={
            "$filter": "SysRevID gt 0",
            "$orderby": "SysRevID",
            "$top": "2",
            "$select": "SysRevID",
        },
        auth=("integration", "sandbox-password"),
        headers={"x-api-key": "sandbox-api-key"},
        timeout=30,
    ).json()["value"]
    assert by_rev[0]["SysRevID"] < by_rev[1]["SysRevID"]


def test_health_reports_the_data(epicor_sandbox: EpicorSandbox) -> None:
    health = epicor_sandbox.health()
    assert health["status"] == "ok"
    assert health["invoices"] == 300
    assert health["rows"]["EPIC07"]["APInvHed"] > 0
    assert health["timezone"] == epicor_sandbox.tap_config()["server_timezone"]
