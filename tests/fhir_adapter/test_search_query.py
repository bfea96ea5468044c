"""Parsing FHIR search parameters into a SearchQuery: values, controls, and every refusal."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fhir_adapter.errors import OperationOutcomeError
from fhir_adapter.search.query import Clause, IncludeSpec, SearchQuery, SortKey, parse_search
from fhir_adapter.search.values import date_value, split_values
from fhir_adapter.store.indexing import index_values, parse_fhir_date


def refused(resource_type: str, params: list[tuple[str, str]], **kwargs: object) -> OperationOutcomeError:
    with pytest.raises(OperationOutcomeError) as caught:
        parse_search(resource_type, params, **kwargs)  # type: ignore[arg-type]
    assert caught.value.status == 400
    return caught.value


def issue(error: OperationOutcomeError) -> dict[str, object]:
    [only] = error.outcome()["issue"]
    return dict(only)


def test_clauses_keep_names_modifiers_and_comma_lists() -> None:
    query = parse_search(
        "Observation",
        [
            ("code", "http://loinc.org|8867-4,|local"),
            ("code", "x\\,y"),
            ("status:not", "final"),
            ("date", "ge2024-01-01"),
            ("date:missing", "true"),
        ],
    )
    assert query.clauses == (
        Clause("code", None, ("http://loinc.org|8867-4", "|local")),
        Clause("code", None, ("x,y",)),
        Clause("status", "not", ("final",)),
        Clause("date", None, ("ge2024-01-01",)),
        Clause("date", "missing", ("true",)),
    )
    assert query.count == 20 and query.offset == 0 and query.sort == () and query.unknown == ()


def test_split_values_unescapes_commas_and_backslashes_only() -> None:
    assert split_values("a,b\\,c,,d\\\\,e\\|f") == ("a", "b,c", "d\\", "e\\|f")
    assert split_values("") == ()


def test_empty_values_are_ignored() -> None:
    assert parse_search("Observation", [("code", ""), ("status", ","), ("_count", "")]).clauses == ()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Patient/p1", "Patient/p1"),
        ("p1", "Patient/p1"),  # Observation.patient has one target type
        ("https://fhir.example.org/r4/Patient/p1", "Patient/p1"),
        ("https://fhir.example.org/r4/Patient/p1/_history/3", "Patient/p1"),
    ],
)
def test_reference_values_are_normalised_to_type_and_id(raw: str, expected: str) -> None:
    [clause] = parse_search("Observation", [("patient", raw)]).clauses
    assert clause == Clause("patient", None, (expected,))


def test_a_type_modifier_names_the_type_of_a_bare_id() -> None:
    [clause] = parse_search("Observation", [("subject:Group", "g1,Group/g2")]).clauses
    assert clause == Clause("subject", None, ("Group/g1", "Group/g2"))
    assert "Group" in issue(refused("Observation", [("subject:Group", "Patient/p1")]))["diagnostics"]  # type: ignore[operator]
    refused("Observation", [("subject:Practitioner", "x")])


def test_a_bare_id_needs_a_single_target_type() -> None:
    error = refused("Observation", [("subject", "p1")])
    assert issue(error)["expression"] == ["subject"] and "Type/p1" in str(error)
    refused("Task", [("focus", "abc")])  # focus may point at anything
    assert parse_search("Task", [("focus", "MedicationRequest/m1")]).clauses[0].values == ("MedicationRequest/m1",)


def test_a_reference_to_a_type_the_parameter_cannot_target_is_refused() -> None:
    error = refused("Observation", [("patient", "Organization/h1")])
    assert "Organization" in str(error) and issue(error)["expression"] == ["patient"]
    refused("Observation", [("patient", "not a reference")])


@pytest.mark.parametrize(
    "raw",
    [
        "2024-13-45",
        "2024-02-30",
        "2024-1-1",
        "garbage",
        "20240101",
        "2024-W01",
        "2024-01-01T25:00",
        "2024-01-01T10:00+15:00",
    ],
)
def test_bad_dates_are_refused_naming_parameter_and_value(raw: str) -> None:
    error = refused("Observation", [("date", f"ge{raw}")])
    found = issue(error)
    assert found["code"] == "invalid" and found["expression"] == ["date"]
    assert raw in str(found["diagnostics"])


def test_parse_fhir_date_rejects_what_it_cannot_read() -> None:
    for bad in ("2024-13-45", "2024-02-30", "2024-1-1", "garbage", "", "2024-01-01T10", "0000"):
        assert parse_fhir_date(bad) is None, bad


def test_parse_fhir_date_covers_the_precision_in_utc() -> None:
    tick = 1  # microsecond
    assert parse_fhir_date("2024") == (
        datetime(2024, 1, 1, tzinfo=UTC),
        datetime(2024, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    )
    assert parse_fhir_date("2024-02") == (
        datetime(2024, 2, 1, tzinfo=UTC),
        datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=UTC),
    )
    assert parse_fhir_date("2024-12")[1] == datetime(2024, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)  # type: ignore[index]
    assert parse_fhir_date("2024-03-05T01:30+08:00") == (
        datetime(2024, 3, 4, 17, 30, tzinfo=UTC),
        datetime(2024, 3, 4, 17, 30, 59, 999999, tzinfo=UTC),
    )
    start, end = parse_fhir_date("2024-03-05T10:00:00.250Z")  # type: ignore[misc]
    assert start == end == datetime(2024, 3, 5, 10, 0, 0, 250000, tzinfo=UTC)
    start, end = parse_fhir_date("2024-03-05T10:00:00")  # type: ignore[misc]
    assert (end - start).microseconds == 1_000_000 - tick
    assert parse_fhir_date("9999")[1].year == 9999  # type: ignore[index]


def test_date_prefixes() -> None:
    assert [date_value("date", f"{p}2024").prefix for p in ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb")] == [
        "eq",
        "ne",
        "gt",
        "lt",
        "ge",
        "le",
        "sa",
        "eb",
    ]
    assert date_value("date", "2024").prefix == "eq"
    # An unencoded "+" of a zone arrives as a space.
    assert date_value("date", "2024-03-05T01:30:00 08:00").start == datetime(2024, 3, 4, 17, 30, tzinfo=UTC)
    approximately = issue(refused("Observation", [("date", "ap2024-01-01")]))
    assert approximately["code"] == "not-supported" and "ap" in str(approximately["diagnostics"])
    unknown = issue(refused("Observation", [("date", "xx2024-01-01")]))
    assert unknown["code"] == "invalid" and "xx" in str(unknown["diagnostics"])
    refused("Observation", [("_lastUpdated", "gt2024-02-30")])


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("code:exact", "x"),  # token
        ("code:text", "x"),
        ("code:contains", "x"),
        ("patient:exact", "Patient/p1"),  # reference
        ("patient:identifier", "x|y"),
        ("date:exact", "2024"),  # date
        ("date:not", "2024"),
        ("_id:not", "x"),
        ("_id:missing", "true"),
        ("_lastUpdated:missing", "true"),
        ("_count:exact", "3"),
    ],
)
def test_modifiers_the_type_does_not_support_are_refused(key: str, value: str) -> None:
    found = issue(refused("Observation", [(key, value)]))
    assert found["code"] == "not-supported" and found["expression"] == [key]
    assert value in str(found["diagnostics"])


def test_missing_takes_true_or_false_and_string_modifiers_are_kept() -> None:
    refused("Patient", [("name:missing", "yes")])
    query = parse_search(
        "Patient", [("name:exact", "Wang Xiuying"), ("name:contains", "xiu"), ("gender:missing", "false")]
    )
    assert [(c.name, c.modifier) for c in query.clauses] == [
        ("name", "exact"),
        ("name", "contains"),
        ("gender", "missing"),
    ]


def test_token_values_need_a_code_or_a_system() -> None:
    refused("Observation", [("code", "|")])


@pytest.mark.parametrize(("value", "expected"), [("0", 0), ("7", 7), ("200", 200), ("201", 200), ("100000", 200)])
def test_count_is_clamped_to_the_maximum(value: str, expected: int) -> None:
    assert parse_search("Observation", [("_count", value)]).count == expected


@pytest.mark.parametrize(
    ("key", "value"), [("_count", "-1"), ("_count", "ten"), ("_count", "1.5"), ("_offset", "-5"), ("_offset", "x")]
)
def test_bad_count_or_offset_is_refused(key: str, value: str) -> None:
    found = issue(refused("Observation", [(key, value)]))
    assert found["expression"] == [key] and value in str(found["diagnostics"])


def test_default_and_maximum_count_are_the_callers() -> None:
    assert parse_search("Observation", [], default_count=5).count == 5
    assert parse_search("Observation", [], default_count=50, max_count=10).count == 10
    assert parse_search("Observation", [("_count", "30"), ("_offset", "60")], max_count=25).count == 25


def test_sort_keys_and_unknown_sort_parameter() -> None:
    query = parse_search("Observation", [("_sort", "-date,status,_id"), ("_sort", "-_lastUpdated")])
    assert query.sort == (SortKey("date", True), SortKey("status"), SortKey("_id"), SortKey("_lastUpdated", True))
    found = issue(refused("Observation", [("_sort", "date,-shoe-size")]))
    assert found["expression"] == ["_sort"] and "shoe-size" in str(found["diagnostics"])


def test_includes_must_name_a_reference_parameter_of_the_searched_type() -> None:
    query = parse_search(
        "DiagnosticReport", [("_include", "DiagnosticReport:result"), ("_include", "DiagnosticReport:subject:Patient")]
    )
    assert query.includes == (
        IncludeSpec("DiagnosticReport", "result"),
        IncludeSpec("DiagnosticReport", "subject", "Patient"),
    )
    assert parse_search("Task", [("_include", "Task:focus")]).includes == (IncludeSpec("Task", "focus", None),)
    for bad in (
        "Observation:patient",
        "DiagnosticReport:code",
        "DiagnosticReport:nope",
        "DiagnosticReport",
        "*",
        "DiagnosticReport:subject:Organization",
        "DiagnosticReport:result:",
    ):
        found = issue(refused("DiagnosticReport", [("_include", bad)]))
        assert found["expression"] == ["_include"] and bad in str(found["diagnostics"])
    assert (
        issue(refused("DiagnosticReport", [("_include:iterate", "DiagnosticReport:result")]))["code"] == "not-supported"
    )


def test_revincludes_must_be_able_to_point_at_the_searched_type() -> None:
    query = parse_search(
        "Patient",
        [
            ("_revinclude", "Observation:patient"),
            ("_revinclude", "Provenance:target"),
            ("_revinclude", "Observation:subject:Patient"),
        ],
    )
    assert query.revincludes == (
        IncludeSpec("Observation", "patient"),
        IncludeSpec("Provenance", "target"),
        IncludeSpec("Observation", "subject", "Patient"),
    )
    for bad in ("Observation:patient", "Observation:code", "Spaceship:crew", "Observation:subject:Group"):
        found = issue(refused("Encounter" if bad == "Observation:patient" else "Patient", [("_revinclude", bad)]))
        assert found["expression"] == ["_revinclude"] and bad in str(found["diagnostics"])


def test_summary_count_and_false_only() -> None:
    assert parse_search("Observation", [("_summary", "count")]).summary_count is True
    assert parse_search("Observation", [("_summary", "false")]).summary_count is False
    for bad in ("true", "text", "data"):
        found = issue(refused("Observation", [("_summary", bad)]))
        assert found["code"] == "not-supported" and found["expression"] == ["_summary"]


def test_unknown_parameters_are_reported_unless_strict() -> None:
    params = [
        ("shoe-size", "42"),
        ("_elements", "id"),
        ("_format", "json"),
        ("_pretty", "true"),
        ("subject.name", "wang"),
        ("_has:Observation:patient:code", "x"),
        ("shoe-size", "43"),
        ("code", "x"),
    ]
    query = parse_search("Observation", params)
    assert query.unknown == ("shoe-size", "_elements", "subject.name", "_has:Observation:patient:code")
    assert query.clauses == (Clause("code", None, ("x",)),)
    found = issue(refused("Observation", params, strict=True))
    assert found["code"] == "not-supported" and "shoe-size" in str(found["diagnostics"])
    assert parse_search("Observation", [("_format", "json"), ("code", "x")], strict=True).unknown == ()


def test_common_parameters_exist_for_every_type() -> None:
    for resource_type in ("Patient", "Observation", "Subscription"):
        query = parse_search(
            resource_type, [("_id", "a,b"), ("_lastUpdated", "ge2024"), ("_tag", "urn:t|x")], strict=True
        )
        assert [c.name for c in query.clauses] == ["_id", "_lastUpdated", "_tag"]
    indexed = index_values({"resourceType": "Patient", "id": "p", "meta": {"tag": [{"system": "urn:t", "code": "x"}]}})
    assert [(v.param, v.system, v.value) for v in indexed] == [("_tag", "urn:t", "x")]


def test_link_params_render_the_query_as_applied() -> None:
    query = parse_search(
        "Observation",
        [
            ("patient", "p1"),
            ("code", "a\\,b,c"),
            ("status:not", "final"),
            ("shoe-size", "42"),
            ("_sort", "-date"),
            ("_include", "Observation:patient"),
            ("_count", "10"),
            ("_offset", "30"),
            ("_format", "json"),
        ],
    )
    assert query.link_params(40) == [
        ("patient", "Patient/p1"),
        ("code", "a\\,b,c"),
        ("status:not", "final"),
        ("_sort", "-date"),
        ("_include", "Observation:patient"),
        ("_count", "10"),
        ("_offset", "40"),
    ]
    again = parse_search("Observation", query.link_params(0))
    assert again == SearchQuery(**{**query.__dict__, "offset": 0, "unknown": ()})
    assert parse_search("Observation", [("_summary", "count")]).link_params(0) == [
        ("_summary", "count"),
        ("_count", "20"),
        ("_offset", "0"),
    ]


def test_the_query_is_immutable() -> None:
    query = parse_search("Observation", [("code", "x")])
    with pytest.raises(AttributeError):
        query.count = 5  # type: ignore[misc]
