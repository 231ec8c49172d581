"""OData behaviour of the emulator over real HTTP: paging, filter/orderby/select/expand, errors."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from finance_sandbox.testing.epicor import EpicorSandbox

AP = "Erp.BO.APInvoiceSvc"
CHICAGO = ZoneInfo("America/Chicago")


def as_utc_literal(local: str) -> str:
    """A served (offset-less, server-local) datetime as an OData UTC literal."""
    moment = datetime.fromisoformat(local).replace(tzinfo=CHICAGO).astimezone(UTC)
    return moment.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def get(sb: EpicorSandbox, service: str, path: str, **params: Any) -> requests.Response:
    with sb.session() as s:
        return s.get(sb.odata_url(service, path), params=params, timeout=30)


def rows(sb: EpicorSandbox, service: str, path: str, **params: Any) -> list[dict[str, Any]]:
    resp = get(sb, service, path, **params)
    assert resp.status_code == 200, resp.text
    body = resp.json(parse_float=Decimal)
    assert "@odata.nextLink" not in body
    return list(body["value"])


def all_rows(sb: EpicorSandbox, service: str, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every row, paging with $skip by the rows received (the server caps pages)."""
    result: list[dict[str, Any]] = []
    while page := rows(sb, service, path, **params, **{"$skip": str(len(result))}):
        result += page
    return result


def error(sb: EpicorSandbox, service: str, path: str, **params: Any) -> dict[str, Any]:
    resp = get(sb, service, path, **params)
    assert resp.status_code == 400, resp.text
    body = resp.json()
    assert body["HttpStatus"] == 400
    return dict(body)


def test_page_cap_silently_lowers_top_and_never_links(epicor_sandbox: EpicorSandbox) -> None:
    page = rows(epicor_sandbox, AP, "APInvoices", **{"$top": "500", "$select": "InvoiceNum"})
    assert len(page) == 100
    default = rows(epicor_sandbox, AP, "APInvoices", **{"$select": "InvoiceNum"})
    assert len(default) == 100


def test_skip_pages_through_everything_once(epicor_sandbox: EpicorSandbox) -> None:
    seen: list[tuple[int, str]] = []
    skip = 0
    while True:
        page = rows(
            epicor_sandbox,
            AP,
            "APInvoices",
            **{
                "$top": "70",
                "$skip": str(skip),
                "$select": "VendorNum,InvoiceNum",
                "$orderby": "VendorNum,InvoiceNum",
            },
        )
        if not page:
            break
        seen += [(r["VendorNum"], r["InvoiceNum"]) for r in page]
        skip += len(page)
    assert len(seen) == len(set(seen)) == 300
    assert seen == sorted(seen)


def test_smaller_page_cap_from_factory(epicor_sandbox_factory) -> None:
    sb = epicor_sandbox_factory(page_cap=37, invoices=50)
    assert len(rows(sb, AP, "APInvoices", **{"$top": "100", "$select": "InvoiceNum"})) == 37
    assert len(rows(sb, AP, "APInvoices", **{"$top": "10", "$select": "InvoiceNum"})) == 10


def test_select_returns_exactly_the_named_properties(epicor_sandbox: EpicorSandbox) -> None:
    page = rows(
        epicor_sandbox, "Erp.BO.VendorSvc", "Vendors", **{"$top": "3", "$select": "Name,VendorNum"}
    )
    assert [list(r) for r in page] == [["Name", "VendorNum"]] * 3


def test_rows_are_wide_with_epicor_defaults(epicor_sandbox: EpicorSandbox) -> None:
    row = rows(epicor_sandbox, AP, "APInvoices", **{"$top": "1"})[0]
    assert len(row) > 500
    assert row["RowMod"] == ""
    assert row["BitFlag"] == 0
    assert row["PayDates"] == ""
    assert row["CPayCheckDate"] is None
    assert len(row["SysRowID"]) == 36
    assert "UpdatedOn" not in row  # stock Kinetic
    assert row["VendorNumName"]


def test_updated_on_is_server_local_without_offset(
    epicor_sandbox_updated_on: EpicorSandbox,
) -> None:
    row = rows(epicor_sandbox_updated_on, AP, "APInvoices", **{"$top": "1"})[0]
    assert "T" in row["UpdatedOn"]
    assert "+" not in row["UpdatedOn"]
    assert not row["UpdatedOn"].endswith("Z")


def test_filter_operators_and_functions(epicor_sandbox: EpicorSandbox) -> None:
    everything = all_rows(
        epicor_sandbox,
        AP,
        "APInvoices",
        **{"$select": "VendorNum,InvoiceNum,InvoiceAmt,Posted,DebitMemo,InvoiceDate"},
    )
    expected = {
        (r["VendorNum"], r["InvoiceNum"])
        for r in everything
        if (r["InvoiceAmt"] > Decimal("1000.5") and not r["Posted"]) or r["DebitMemo"]
    }
    got = all_rows(
        epicor_sandbox,
        AP,
        "APInvoices",
        **{
            "$filter": "(InvoiceAmt gt 1000.5 and not Posted) or DebitMemo eq true",
            "$select": "VendorNum,InvoiceNum",
        },
    )
    assert {(r["VendorNum"], r["InvoiceNum"]) for r in got} == expected
    inv = rows(
        epicor_sandbox,
        AP,
        "APInvoices",
        **{"$filter": "startswith(InvoiceNum,'INV')", "$select": "InvoiceNum"},
    )
    assert inv
    assert all(r["InvoiceNum"].startswith("INV") for r in inv)
    contains = rows(
        epicor_sandbox,
        AP,
        "APInvoices",
        **{
            "$filter": "contains(VendorNumName,'Steel') and VendorNum ne 0",
            "$select": "VendorNumName",
        },
    )
    assert all("Steel" in r["VendorNumName"] for r in contains)
    ends = rows(
        epicor_sandbox,
        AP,
        "APInvoices",
        **{"$filter": "endswith(InvoiceNum,'7')", "$select": "InvoiceNum"},
    )
    assert ends
    assert all(r["InvoiceNum"].endswith("7") for r in ends)
    quote = rows(epicor_sandbox, AP, "APInvoices", **{"$filter": "InvoiceNum eq 'O''Brien'"})
    assert quote == []


def test_datetimeoffset_literals_convert_to_server_time(epicor_sandbox: EpicorSandbox) -> None:
    day = rows(epicor_sandbox, AP, "APInvoices", **{"$top": "1", "$select": "InvoiceDate"})[0]
    local_midnight = day["InvoiceDate"]
    utc = as_utc_literal(local_midnight)
    offset = datetime.fromisoformat(local_midnight).replace(tzinfo=CHICAGO).strftime("%z")
    with_offset = f"{local_midnight}{offset[:3]}:{offset[3:]}"
    by_utc = rows(
        epicor_sandbox,
        AP,
        "APInvoices",
        **{"$filter": f"InvoiceDate eq {utc}", "$select": "InvoiceDate"},
    )
    by_offset = rows(
        epicor_sandbox,
        AP,
        "APInvoices",
        **{"$filter": f"InvoiceDate eq {with_offset}", "$select": "InvoiceDate"},
    )
    assert by_utc
    assert by_utc == by_offset
    assert {r["InvoiceDate"] for r in by_utc} == {local_midnight}
    # The same instant written as UTC midnight is a different (earlier) local time: no match.
    naive_utc = local_midnight + "Z"
    assert (
        rows(epicor_sandbox, AP, "APInvoices", **{"$filter": f"InvoiceDate eq {naive_utc}"}) == []
    )


def test_updated_on_gt_watermark_excludes_the_watermark_row(
    epicor_sandbox_updated_on: EpicorSandbox,
) -> None:
    newest = rows(
        epicor_sandbox_updated_on,
        AP,
        "APInvoices",
        **{"$orderby": "UpdatedOn desc", "$top": "2", "$select": "UpdatedOn"},
    )
    assert newest[0]["UpdatedOn"] > newest[1]["UpdatedOn"]
    # The served value is Chicago time; as a UTC literal it is 6 hours later (December).
    utc = as_utc_literal(newest[1]["UpdatedOn"])
    after = rows(
        epicor_sandbox_updated_on,
        AP,
        "APInvoices",
        **{"$filter": f"UpdatedOn gt {utc}", "$select": "UpdatedOn"},
    )
    assert [r["UpdatedOn"] for r in after] == [newest[0]["UpdatedOn"]]


def test_orderby_several_keys(epicor_sandbox: EpicorSandbox) -> None:
    page = rows(
        epicor_sandbox,
        AP,
        "APInvoices",
        **{
            "$orderby": "VendorNum desc,InvoiceAmt asc",
            "$select": "VendorNum,InvoiceAmt",
            "$top": "100",
        },
    )
    keys = [(-r["VendorNum"], r["InvoiceAmt"]) for r in page]
    assert keys == sorted(keys)


def test_count_option_and_count_path(epicor_sandbox: EpicorSandbox) -> None:
    resp = get(
        epicor_sandbox,
        AP,
        "APInvoices",
        **{"$count": "true", "$top": "1", "$filter": "Posted eq true"},
    )
    body = resp.json()
    posted = body["@odata.count"]
    assert 0 < posted < 300
    assert len(body["value"]) == 1
    plain = get(epicor_sandbox, AP, "APInvoices/$count")
    assert plain.status_code == 200
    assert plain.text == "300"
    filtered = get(epicor_sandbox, AP, "APInvoices/$count", **{"$filter": "Posted eq true"})
    assert int(filtered.text) == posted


def test_nested_expand_in_one_request(epicor_sandbox: EpicorSandbox) -> None:
    page = rows(
        epicor_sandbox,
        AP,
        "APInvoices",
        **{
            "$top": "20",
            "$select": "InvoiceNum,InvoiceAmt",
            "$expand": "APInvDtls($select=InvoiceLine,ExtCost;"
            "$expand=APInvExps($select=InvExpSeq,ExpAmt,GLAccount)),"
            "APInvTaxes($select=TaxAmt),APIHAPInvMscs($select=MiscAmt)",
        },
    )
    assert len(page) == 20
    for inv in page:
        assert list(inv) == ["InvoiceNum", "InvoiceAmt", "APInvDtls", "APInvTaxes", "APIHAPInvMscs"]
        assert inv["APInvDtls"]
        assert (
            sum(line["ExtCost"] for line in inv["APInvDtls"])
            + sum(t["TaxAmt"] for t in inv["APInvTaxes"])
            + sum(m["MiscAmt"] for m in inv["APIHAPInvMscs"])
            == inv["InvoiceAmt"]
        )
        for line in inv["APInvDtls"]:
            assert sum(e["ExpAmt"] for e in line["APInvExps"]) == line["ExtCost"]
            assert all(e["GLAccount"].count("|") == 2 for e in line["APInvExps"])


def test_expand_with_filter_and_orderby_inside(epicor_sandbox: EpicorSandbox) -> None:
    page = rows(
        epicor_sandbox,
        "Erp.BO.POSvc",
        "POes",
        **{
            "$top": "10",
            "$select": "PONum",
            "$expand": "PODetails($select=POLine,PONUM;$orderby=POLine desc;$filter=POLine ge 1)",
        },
    )
    for po in page:
        lines = [d["POLine"] for d in po["PODetails"]]
        assert lines == sorted(lines, reverse=True)
        assert all(d["PONUM"] == po["PONum"] for d in po["PODetails"])


def test_payments_expand_aptrans(epicor_sandbox: EpicorSandbox) -> None:
    page = rows(
        epicor_sandbox,
        "Erp.BO.PaymentEntrySvc",
        "PaymentEntries",
        **{
            "$top": "30",
            "$select": "HeadNum,CheckAmt",
            "$expand": "APTrans($select=APTranNo,TranAmt,InvoiceNum,Voided)",
        },
    )
    for check in page:
        assert sum(t["TranAmt"] for t in check["APTrans"]) == check["CheckAmt"]


def test_keyed_entity_and_navigation(epicor_sandbox: EpicorSandbox) -> None:
    first = rows(
        epicor_sandbox, AP, "APInvoices", **{"$top": "1", "$select": "VendorNum,InvoiceNum"}
    )[0]
    key = f"APInvoices('EPIC06',{first['VendorNum']},'{first['InvoiceNum']}')"
    one = get(
        epicor_sandbox,
        AP,
        key,
        **{"$select": "InvoiceNum", "$expand": "APInvDtls($select=InvoiceLine)"},
    )
    assert one.status_code == 200
    assert one.json()["InvoiceNum"] == first["InvoiceNum"]
    assert one.json()["APInvDtls"]
    named = get(
        epicor_sandbox,
        AP,
        f"APInvoices(Company='EPIC06',VendorNum={first['VendorNum']},InvoiceNum='{first['InvoiceNum']}')",
    )
    assert named.status_code == 200
    lines = rows(epicor_sandbox, AP, key + "/APInvDtls", **{"$select": "InvoiceLine"})
    assert [r["InvoiceLine"] for r in lines] == [r["InvoiceLine"] for r in one.json()["APInvDtls"]]
    missing = get(epicor_sandbox, AP, "APInvoices('EPIC06',1,'NOPE')")
    assert missing.status_code == 404
    assert missing.json()["HttpStatus"] == 404


def test_top_level_child_set_ignores_filters_like_epicor(epicor_sandbox: EpicorSandbox) -> None:
    assert rows(epicor_sandbox, "Erp.BO.POSvc", "PODetails", **{"$filter": "PONUM eq 1001"}) == []


def test_gl_accounts_use_glaccount1_and_podetail_uses_ponum_upper(
    epicor_sandbox: EpicorSandbox,
) -> None:
    gl = rows(
        epicor_sandbox,
        "Erp.BO.GLAccountSvc",
        "GLAccounts",
        **{"$top": "1", "$select": "GLAccount1"},
    )
    assert gl[0]["GLAccount1"].count("|") == 2
    err = error(epicor_sandbox, "Erp.BO.GLAccountSvc", "GLAccounts", **{"$select": "GLAccount"})
    assert err["ErrorMessage"].startswith(
        "Could not find a property named 'GLAccount' on type 'Erp.GLAccount'"
    )
    err = error(epicor_sandbox, "Erp.BO.POSvc", "POes", **{"$expand": "PODetails($select=PONum)"})
    assert "'PONum' on type 'Erp.PODetail'" in err["ErrorMessage"]


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        (
            {"$filter": "vendorNum eq 1"},
            "Could not find a property named 'vendorNum' on type 'Erp.APInvHed'",
        ),
        (
            {"$select": "InvoiceNum,Bogus"},
            "Could not find a property named 'Bogus' on type 'Erp.APInvHed'",
        ),
        ({"$orderby": "invoicenum"}, "Could not find a property named 'invoicenum'"),
        ({"$expand": "Lines"}, "Could not find a property named 'Lines' on type 'Erp.APInvHed'"),
        ({"$filter": "InvoiceDate gt datetime'2024-01-01T00:00:00'"}, "datetime"),
        ({"$filter": "InvoiceDate gt 2024-01-01T00:00:00"}, "offset"),
        ({"$filter": "InvoiceAmt eq 'x'"}, "incompatible types"),
        ({"$filter": "InvoiceNum eq"}, "end of"),
        ({"$filter": "InvoiceNum eq 'a' xor"}, "Syntax error"),
        ({"$top": "-1"}, "$top"),
        ({"$skip": "x"}, "$skip"),
        ({"$search": "x"}, "not supported"),
    ],
)
def test_query_errors_use_epicor_error_body(
    epicor_sandbox: EpicorSandbox, params: dict[str, str], fragment: str
) -> None:
    body = error(epicor_sandbox, AP, "APInvoices", **params)
    assert fragment in body["ErrorMessage"]
    assert body["ErrorType"]
    assert isinstance(body["ErrorDetails"], list)


def test_unknown_entity_set_is_404_and_case_sensitive(epicor_sandbox: EpicorSandbox) -> None:
    resp = get(epicor_sandbox, AP, "apinvoices")
    assert resp.status_code == 404
    assert resp.json()["HttpStatus"] == 404
    # The service segment is case-insensitive (reference §1.3).
    assert (
        get(epicor_sandbox, "erp.bo.apinvoicesvc", "APInvoices", **{"$top": "1"}).status_code == 200
    )


def test_metadata_declares_types_scales_and_updated_on(
    epicor_sandbox_updated_on: EpicorSandbox,
) -> None:
    resp = get(epicor_sandbox_updated_on, AP, "$metadata")
    assert resp.status_code == 200
    xml = resp.text
    assert 'xmlns="http://docs.oasis-open.org/odata/ns/edm"' in xml
    assert '<EntityType Name="APInvHed">' in xml
    assert '<Property Name="InvoiceAmt" Type="Edm.Decimal" Precision="18" Scale="3"' in xml
    assert '<Property Name="DocUnitCost" Type="Edm.Decimal" Precision="17" Scale="5"' in xml
    assert '<Property Name="VendorQty" Type="Edm.Decimal" Precision="22" Scale="8"' in xml
    assert '<Property Name="ExchangeRate" Type="Edm.Decimal" Precision="16" Scale="10"' in xml
    assert '<Property Name="SysRevID" Type="Edm.Int64"' in xml
    assert '<Property Name="UpdatedOn" Type="Edm.DateTimeOffset"' in xml
    assert '<NavigationProperty Name="APInvExps" Type="Collection(Erp.APInvExp)"/>' in xml
    assert '<Property Name="ApprovedAmt_c" Type="Edm.Decimal" Precision="18" Scale="3"' in xml
    assert xml.count('<EntityType Name="APInvDtl">') == 1
    assert '<EntitySet Name="APInvoices" EntityType="Erp.APInvHed">' in xml
    assert '<NavigationPropertyBinding Path="APInvDtls" Target="APInvDtls"/>' in xml
    po = get(epicor_sandbox_updated_on, "Erp.BO.POSvc", "$metadata").text
    assert '<EntityType Name="PO">' in po


def test_service_document_lists_entity_sets(epicor_sandbox: EpicorSandbox) -> None:
    body = get(epicor_sandbox, "Erp.BO.PaymentEntrySvc", "").json()
    assert {"name": "PaymentEntries", "kind": "EntitySet", "url": "PaymentEntries"} in body["value"]


def test_decimals_are_exact_json_numbers_within_their_scale(epicor_sandbox: EpicorSandbox) -> None:
    resp = get(
        epicor_sandbox,
        AP,
        "APInvDtls",
        **{"$top": "100", "$select": "ExtCost,DocUnitCost,VendorQty"},
    )
    page = resp.json(parse_float=str, parse_int=str)["value"]
    scales = {"ExtCost": 3, "DocUnitCost": 5, "VendorQty": 8}
    fractions = 0
    for r in page:
        for name, scale in scales.items():
            whole, _, frac = r[name].partition(".")
            assert whole.lstrip("-").isdigit()
            assert len(frac) <= scale
            assert not frac.endswith("0")
            fractions += bool(frac)
    assert fractions


def test_baq_ap_aging(epicor_sandbox_updated_on: EpicorSandbox) -> None:
    page = rows(
        epicor_sandbox_updated_on,
        "BaqSvc",
        "FIN-APAging/Data",
        **{"AsOfDate": "2025-12-31", "$top": "1000", "$orderby": "APInvHed_UpdatedOn"},
    )
    assert page
    for r in page:
        assert r["APInvHed_InvoiceBal"] != 0
        assert r["Calculated_AgingBucket"] in {"Current", "1-30", "31-60", "61-90", "90+"}
        assert r["Calculated_DaysPastDue"] >= 0
    assert [r["APInvHed_UpdatedOn"] for r in page] == sorted(r["APInvHed_UpdatedOn"] for r in page)
    newer = rows(
        epicor_sandbox_updated_on,
        "BaqSvc",
        "FIN-APAging/Data",
        **{
            "$filter": f"APInvHed_UpdatedOn gt {as_utc_literal(page[0]['APInvHed_UpdatedOn'])}",
            "$select": "APInvHed_InvoiceNum",
        },
    )
    assert len(newer) == min(len(page) - 1, 100)
    assert get(epicor_sandbox_updated_on, "BaqSvc", "NOPE/Data").status_code == 404


def test_keyset_predicates_with_or_return_exactly_the_rows_after_a_position(
    epicor_sandbox_updated_on: EpicorSandbox,
) -> None:
    ordered = all_rows(
        epicor_sandbox_updated_on,
        AP,
        "APInvoices",
        **{"$orderby": "UpdatedOn,SysRevID", "$select": "UpdatedOn,SysRevID,InvoiceAmt"},
    )
    start, end = ordered[40], ordered[230]
    lo_t, hi_t = as_utc_literal(start["UpdatedOn"]), as_utc_literal(end["UpdatedOn"])
    keyset = (
        f"(UpdatedOn gt {lo_t} or (UpdatedOn eq {lo_t} and (SysRevID gt {start['SysRevID']})))"
        f" and (UpdatedOn lt {hi_t} or (UpdatedOn eq {hi_t} and (SysRevID le {end['SysRevID']})))"
    )
    got = all_rows(
        epicor_sandbox_updated_on,
        AP,
        "APInvoices",
        **{"$filter": keyset, "$orderby": "UpdatedOn,SysRevID", "$select": "UpdatedOn,SysRevID"},
    )
    assert got == [{k: r[k] for k in ("UpdatedOn", "SysRevID")} for r in ordered[41:231]]
    either = all_rows(
        epicor_sandbox_updated_on,
        AP,
        "APInvoices",
        **{"$filter": "InvoiceAmt gt 20000 or InvoiceAmt lt 0", "$select": "InvoiceAmt"},
    )
    assert len(either) == sum(1 for r in ordered if r["InvoiceAmt"] > 20000 or r["InvoiceAmt"] < 0)


def test_metadata_lists_every_served_column_including_ud_ones(
    epicor_sandbox: EpicorSandbox,
) -> None:
    xml = get(epicor_sandbox, AP, "$metadata").text
    header = xml.split('<EntityType Name="APInvHed">', 1)[1].split("</EntityType>", 1)[0]
    # Epicor serves 536 columns on APInvoices: the Swagger ones, UD fields and legacy UD columns.
    assert header.count("<Property ") >= 536
    for name in ("Character01", "ShortChar01", "BudgetCode_c", "TermsCodeDescription"):
        assert f'<Property Name="{name}" Type="Edm.String"' in header, name
    lines = xml.split('<EntityType Name="APInvDtl">', 1)[1].split("</EntityType>", 1)[0]
    assert '<Property Name="Character01" Type="Edm.String"' in lines


def test_any_served_column_can_be_selected_on_headers_and_expanded_children(
    epicor_sandbox: EpicorSandbox,
) -> None:
    page = rows(
        epicor_sandbox,
        AP,
        "APInvoices",
        **{
            "$top": "3",
            "$select": "InvoiceNum,Character01,ShortChar01,TermsCodeDescription,ApprovedAmt_c",
            "$expand": "APInvDtls($select=InvoiceLine,Character01,PartNumPartDescription)",
        },
    )
    assert len(page) == 3
    for row in page:
        assert set(row) == {
            "InvoiceNum",
            "Character01",
            "ShortChar01",
            "TermsCodeDescription",
            "ApprovedAmt_c",
            "APInvDtls",
        }
        assert row["TermsCodeDescription"]
        for line in row["APInvDtls"]:
            assert set(line) == {"InvoiceLine", "Character01", "PartNumPartDescription"}
