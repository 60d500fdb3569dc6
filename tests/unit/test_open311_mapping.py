"""Open311 mapping rules without HTTP: our statuses to open/closed, the service questions and their answers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from werkzeug.datastructures import MultiDict

from webapp.api.open311.base import Open311Error
from webapp.api.open311.queries import open311_status, parse_w3c
from webapp.api.open311.services import (
    DATATYPES,
    Attribute,
    attribute_definitions,
    attribute_params,
    attribute_summary,
    attributes_for,
    validate_attributes,
)
from webapp.reports.category_facts import load_taxonomy
from webapp.reports.status import ReportStatus

QUESTIONS = attribute_definitions()  # from the category data file
COVER_STATE, COVER_SAFETY = QUESTIONS["cover_state"], QUESTIONS["safety_notice"]
LAMP_ID, LAMP_FAULT, BIN_WASTE = QUESTIONS["lamp_id"], QUESTIONS["lamp_fault"], QUESTIONS["waste_kind"]


@pytest.mark.parametrize("status", list(ReportStatus))
def test_only_closed_and_rejected_are_closed(status):
    expected = "closed" if status in (ReportStatus.CLOSED, ReportStatus.REJECTED) else "open"
    assert open311_status(status) == expected


def test_every_state_of_a_case_maps_to_one_of_the_two_spec_values():
    assert {open311_status(status) for status in ReportStatus} == {"open", "closed"}
    # Awaiting check, returned, rework, long-term list: the city still owes the resident a fix.
    for status in (ReportStatus.AWAITING_CHECK, ReportStatus.RETURNED, ReportStatus.REWORK, ReportStatus.SUSPENDED):
        assert open311_status(status) == "open"


def test_the_attribute_table_is_well_formed():
    assert attributes_for("01001") == (COVER_STATE, COVER_SAFETY)  # a manhole cover
    assert attributes_for("01026") == (COVER_STATE, COVER_SAFETY)  # a trench cover plate
    assert attributes_for("01024") == ()  # a water well is no cover
    assert attributes_for("01037") == (LAMP_ID, LAMP_FAULT)
    assert attributes_for("06042") == (BIN_WASTE,)
    codes = [c["code"] for g in load_taxonomy()["groups"] for c in g["categories"]]
    asked = {code: attributes_for(code) for code in codes}  # every code a category names is defined
    assert len([code for code, attributes in asked.items() if attributes]) == 24
    for attributes in asked.values():
        codes = [attribute.code for attribute in attributes]
        assert len(codes) == len(set(codes))
        for attribute in attributes:
            assert attribute.datatype in DATATYPES
            assert attribute.description_zh and attribute.description_en
            if attribute.datatype in ("singlevaluelist", "multivaluelist"):
                assert attribute.values and len(attribute.keys) == len(set(attribute.keys))
            if not attribute.variable:
                assert not attribute.required


def test_a_definition_in_either_language():
    zh = COVER_STATE.as_open311(1, english=False)
    en = COVER_STATE.as_open311(1, english=True)
    assert zh["description"] == "井盖状态" and en["description"] == "State of the cover"
    assert [v["key"] for v in zh["values"]] == ["missing", "broken", "loose"]
    assert [v["name"] for v in en["values"]] == ["Missing", "Broken", "Loose"]
    assert zh["variable"] is True and zh["required"] is True and zh["order"] == 1
    assert "values" not in LAMP_ID.as_open311(1, english=False)


def test_attribute_params_reads_single_and_list_forms():
    form = MultiDict(
        [
            ("attribute[cover_state]", " missing "),
            ("attribute[waste_kind][]", "kitchen"),
            ("attribute[waste_kind][]", "other"),
            ("attribute[uprn]", "12345"),
            ("attributes", "not one"),
            ("attribute[]", "nameless"),
        ]
    )
    assert attribute_params(form) == {
        "cover_state": ["missing"],
        "waste_kind": ["kitchen", "other"],
        "uprn": ["12345"],
    }


def test_required_attribute_missing_or_empty_is_refused():
    for given in ({}, {"cover_state": [""]}):
        with pytest.raises(Open311Error) as refused:
            validate_attributes((COVER_STATE, COVER_SAFETY), given)
        assert refused.value.status == 400 and "attribute[cover_state]" in refused.value.description


def test_single_value_list_checks_its_keys():
    assert validate_attributes((COVER_STATE,), {"cover_state": ["loose"]}) == {"cover_state": "loose"}
    with pytest.raises(Open311Error, match="unknown value"):
        validate_attributes((COVER_STATE,), {"cover_state": ["stolen"]})
    with pytest.raises(Open311Error, match="one value"):
        validate_attributes((COVER_STATE,), {"cover_state": ["loose", "broken"]})


def test_multi_value_list_keeps_each_key_once():
    answers = validate_attributes((BIN_WASTE,), {"waste_kind": ["kitchen", "other", "kitchen"]})
    assert answers == {"waste_kind": ["kitchen", "other"]}
    with pytest.raises(Open311Error, match="unknown value"):
        validate_attributes((BIN_WASTE,), {"waste_kind": ["kitchen", "plutonium"]})
    assert validate_attributes((BIN_WASTE,), {}) == {}  # optional


def test_informational_attributes_and_unknown_codes_are_ignored():
    answers = validate_attributes(
        (COVER_STATE, COVER_SAFETY), {"cover_state": ["broken"], "safety_notice": ["x"], "fixmystreet_id": ["9"]}
    )
    assert answers == {"cover_state": "broken"}


def test_string_number_and_datetime_attributes():
    number = Attribute("depth", "number", "深度", "Depth")
    when = Attribute("seen", "datetime", "发现时间", "Seen at")
    assert validate_attributes((number,), {"depth": ["1.5"]}) == {"depth": "1.5"}
    for bad in ("deep", "nan", "inf"):
        with pytest.raises(Open311Error, match="number"):
            validate_attributes((number,), {"depth": [bad]})
    assert validate_attributes((when,), {"seen": ["2026-05-01T08:00:00+08:00"]})
    with pytest.raises(Open311Error, match="ISO 8601"):
        validate_attributes((when,), {"seen": ["yesterday"]})
    with pytest.raises(Open311Error, match="too long"):
        validate_attributes((LAMP_ID,), {"lamp_id": ["L" * 41]})


def test_summary_names_the_answers_in_chinese():
    text = attribute_summary(
        (COVER_STATE, COVER_SAFETY, BIN_WASTE, LAMP_ID),
        {"cover_state": "missing", "waste_kind": ["kitchen", "other"], "lamp_id": "LD-0123"},
    )
    assert text.splitlines() == ["井盖状态：缺失", "溢出的垃圾种类：厨余垃圾、其他垃圾", "路灯编号：LD-0123"]
    assert attribute_summary((COVER_STATE,), {}) == ""


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-01-02T03:04:05Z", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2026-01-02T11:04:05+08:00", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2026-01-02T11:04:05 08:00", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),  # "+" not URL-encoded
        ("2026-01-02T03:04Z", datetime(2026, 1, 2, 3, 4, tzinfo=UTC)),
        ("2026-01-02", datetime(2026, 1, 2, tzinfo=UTC)),
    ],
)
def test_w3c_dates_are_read(raw, expected):
    assert parse_w3c(raw, "start_date") == expected


@pytest.mark.parametrize(
    "raw", ["2026-01-02T03:04:05", "yesterday", "2026-13-01T00:00:00Z", "2026-01-02T03:04:05+0800", "1 Jan 2026", ""]
)
def test_other_dates_are_400(raw):
    with pytest.raises(Open311Error) as refused:
        parse_w3c(raw, "start_date")
    assert refused.value.status == 400 and "start_date" in refused.value.description
