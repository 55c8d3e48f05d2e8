"""API rows to typed Arrow tables: exact money, strict day-first dates, epoch ms, quarantine, new fields."""

from datetime import UTC, date, datetime
from decimal import Decimal as D

import pyarrow as pa

from sources._arrow import (
    Bool,
    DayFirstDate,
    Decimal,
    Enum,
    EpochMillis,
    Field,
    Int,
    TableSpec,
    Text,
    Timestamp,
    explode,
    snake_case,
)
from sources._http import decode_json

SPEC = TableSpec(
    "things",
    ("id",),
    (
        Field("id", Int(), required=True),
        Field("amount", Decimal()),
        Field("day", DayFirstDate()),
        Field("at", Timestamp()),
        Field("updatedAt", EpochMillis()),
        Field("kind", Enum(frozenset({"TIME", "EXPENSE"}))),
        Field("ok", Bool()),
        Field("name", Text()),
    ),
)


def test_money_is_exact_from_json_number_text():
    rows = decode_json(b'[{"id": 1, "amount": 0.1}, {"id": 2, "amount": 1500.00}, {"id": 3, "amount": 7}]')
    table = SPEC.to_arrow(rows).table
    assert table.schema.field("amount").type == pa.decimal128(18, 2)
    assert table["amount"].to_pylist() == [D("0.10"), D("1500.00"), D("7.00")]


def test_string_amounts_ids_and_dates_parse():
    rows = [
        {
            "id": "1686",
            "amount": "143.00",
            "day": "01-03-2024",
            "at": "2024-02-29T17:58:54Z",
            "updatedAt": 1747849689000,
        },
        {"id": "7", "amount": "-158.00", "day": "31-12-2024", "at": "2024-03-01T12:00:00+10:00", "ok": "Yes"},
    ]
    parsed = SPEC.to_arrow(rows)
    assert parsed.quarantined == []
    t = parsed.table
    assert t["id"].to_pylist() == [1686, 7]
    assert t["amount"].to_pylist() == [D("143.00"), D("-158.00")]
    assert t["day"].to_pylist() == [date(2024, 3, 1), date(2024, 12, 31)]  # day first
    assert t["at"].to_pylist() == [datetime(2024, 2, 29, 17, 58, 54, tzinfo=UTC), datetime(2024, 3, 1, 2, tzinfo=UTC)]
    assert t["updated_at"].to_pylist()[0] == datetime(2025, 5, 21, 17, 48, 9, tzinfo=UTC)
    assert t["ok"].to_pylist() == [None, True]


def test_bad_values_go_to_quarantine_and_the_rest_loads():
    rows = [
        {"id": 1, "amount": "10.00", "day": "31-02-2024"},  # impossible date
        {"id": 2, "amount": "12,50"},  # not a number
        {"amount": "1.00"},  # missing id
        {"id": 4, "kind": "WEEKEND"},  # unknown enum value
        {"id": 5, "amount": "1.005"},  # more cents than money has: not rounded silently
        "not an object",
        {"id": 7, "amount": "3.30", "kind": "time"},
    ]
    parsed = SPEC.to_arrow(rows)
    assert parsed.table["id"].to_pylist() == [7]
    assert parsed.table["kind"].to_pylist() == ["TIME"]
    keys = [q.record_key for q in parsed.quarantined]
    reasons = [q.reason for q in parsed.quarantined]
    assert keys == ["1", "2", None, "4", "5", None]
    assert "'day'" in reasons[0] and "'amount'" in reasons[1] and "missing required field 'id'" in reasons[2]
    assert "'kind'" in reasons[3] and "'amount'" in reasons[4] and "not an object" in reasons[5]
    assert parsed.quarantined[0].payload == rows[0]


def test_unknown_fields_are_kept_as_columns():
    parsed = SPEC.to_arrow([{"id": 1, "newField": "x", "extraInfo": {"a": 1}}, {"id": 2}])
    assert parsed.table["new_field"].to_pylist() == ["x", None]
    assert parsed.table["extra_info"].to_pylist() == ['{"a":1}', None]


def test_explode_children_with_parent_key_and_position():
    rows = [{"id": 1, "item": [{"x": 1}, {"x": 2}]}, {"id": 2, "item": []}, {"id": 3}]
    assert explode(rows, "item", {"invoice_id": "id"}, "item_no") == [
        {"x": 1, "invoice_id": 1, "item_no": 1},
        {"x": 2, "invoice_id": 1, "item_no": 2},
    ]


def test_snake_case_follows_dlt():
    assert snake_case("loggedDate") == "logged_date"
    assert snake_case("nrbPONumber") == "nrb_po_number"
    assert snake_case("nrbWBSGuid") == "nrb_wbs_guid"
    assert snake_case("isInternal") == "is_internal"
