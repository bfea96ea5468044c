"""The search engine on SQLite and PostgreSQL: every parameter type, sorting, paging, restrictions,
_include/_revinclude and deleted resources.

The database is shared with other tests (which may have committed demo data), so every resource here
carries a per-test tag and a per-test id prefix, and each search names that tag.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fhir_adapter.errors import OperationOutcomeError
from fhir_adapter.search.query import IncludeSpec, SearchQuery, parse_search
from fhir_adapter.store.repository import SqlResourceRepository
from fhir_adapter.store.searching import MemberOf, Restriction, ValueIn, include, revinclude
from sqlalchemy.orm import Session

from bridge.db.engine import make_engine, make_session_factory

LOINC = "http://loinc.org"
START = datetime(2031, 1, 1, 8, 0, tzinfo=UTC)


class SteppingClock:
    """Each write happens one minute after the previous one, so _lastUpdated order is known."""

    def __init__(self) -> None:
        self.current = START

    def __call__(self) -> datetime:
        self.current += timedelta(minutes=1)
        return self.current


@dataclass
class World:
    session: Session
    repo: SqlResourceRepository
    clock: SteppingClock
    prefix: str

    @property
    def tag(self) -> str:
        return f"urn:test:run|{self.prefix}"

    def id(self, name: str) -> str:
        return f"{self.prefix}-{name}"

    def names(self, resources: list[dict[str, Any]]) -> list[str]:
        return [r["id"].removeprefix(f"{self.prefix}-") for r in resources]

    def put(self, resource: dict[str, Any]) -> dict[str, Any]:
        system, code = self.tag.split("|")
        meta = {"tag": [*resource.get("meta", {}).get("tag", []), {"system": system, "code": code}]}
        return self.repo.create({**resource, "meta": meta}, resource_id=self.id(resource["id"]))

    def query(self, resource_type: str, *params: tuple[str, str], **kwargs: Any) -> SearchQuery:
        return parse_search(resource_type, [("_tag", self.tag), *params], strict=True, **kwargs)

    def search(
        self, resource_type: str, *params: tuple[str, str], restrictions: list[Restriction] | None = None
    ) -> list[str]:
        page = self.repo.search(self.query(resource_type, ("_count", "200"), *params), restrictions or [])
        assert page.total == len(page.resources)
        return self.names(page.resources)

    def sorted_search(self, resource_type: str, *params: tuple[str, str]) -> list[str]:
        return sorted(self.search(resource_type, *params))

    def ref(self, resource_type: str, name: str) -> dict[str, str]:
        return {"reference": f"{resource_type}/{self.id(name)}"}


@pytest.fixture
def world(database_url: str) -> Iterator[World]:
    engine = make_engine(database_url)
    session = make_session_factory(engine)()
    clock = SteppingClock()
    try:
        yield World(session, SqlResourceRepository(session, now=clock), clock, uuid.uuid4().hex[:8])
    finally:
        session.rollback()
        session.close()
        engine.dispose()


def observation(
    key: str, world: World, *, code: str = "8867-4", system: str | None = LOINC, **extra: Any
) -> dict[str, Any]:
    coding = {"code": code, **({"system": system} if system else {})}
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": key,
        "status": "final",
        "code": {"coding": [coding]},
    }
    return {**resource, **extra}


def patient(key: str, **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": key, **extra}


# --- tokens, strings, references ---------------------------------------------------------------


def test_tokens_by_code_system_and_code_no_system_and_system_only(world: World) -> None:
    world.put(observation("loinc-hr", world))
    world.put(observation("local-hr", world, system="urn:local"))
    world.put(observation("bare-hr", world, system=None))
    world.put(observation("loinc-temp", world, code="8310-5"))
    assert world.sorted_search("Observation", ("code", "8867-4")) == ["bare-hr", "local-hr", "loinc-hr"]
    assert world.search("Observation", ("code", f"{LOINC}|8867-4")) == ["loinc-hr"]
    assert world.search("Observation", ("code", "|8867-4")) == ["bare-hr"]
    assert world.sorted_search("Observation", ("code", f"{LOINC}|")) == ["loinc-hr", "loinc-temp"]
    assert world.search("Observation", ("code", "urn:other|8867-4")) == []
    # Values OR, repeated parameters AND.
    assert world.sorted_search("Observation", ("code", "8310-5,|8867-4")) == ["bare-hr", "loinc-temp"]
    assert world.search("Observation", ("code", f"{LOINC}|"), ("code", "8867-4")) == ["loinc-hr"]
    # :not is "no value matches", so it includes resources without that code at all.
    assert world.sorted_search("Observation", ("code:not", "8867-4")) == ["loinc-temp"]
    assert world.sorted_search("Observation", ("code:not", f"{LOINC}|8867-4,8310-5")) == ["bare-hr", "local-hr"]


def test_strings_prefix_exact_contains_and_missing(world: World) -> None:
    world.put(patient("wang", name=[{"family": "Wang", "given": ["Xiuying"]}]))
    world.put(patient("wangli", name=[{"text": "Wangli  Hua"}]))
    world.put(patient("li", name=[{"family": "Li", "given": ["Wang"]}]))
    world.put(patient("nameless", gender="female"))
    assert world.sorted_search("Patient", ("name", "WANG")) == ["li", "wang", "wangli"]
    assert world.sorted_search("Patient", ("name", "wangli hua")) == ["wangli"]
    assert world.sorted_search("Patient", ("name:exact", "wang")) == ["li", "wang"]
    assert world.sorted_search("Patient", ("name:exact", "Wangli Hua")) == ["wangli"]
    assert world.sorted_search("Patient", ("name:contains", "ngli")) == ["wangli"]
    assert world.sorted_search("Patient", ("name:contains", "YIN")) == ["wang"]
    assert world.sorted_search("Patient", ("name:contains", "%")) == []  # LIKE wildcards are escaped
    assert world.search("Patient", ("name:missing", "true")) == ["nameless"]
    assert world.sorted_search("Patient", ("name:missing", "false")) == ["li", "wang", "wangli"]
    assert world.sorted_search("Patient", ("gender:missing", "true"), ("name", "wang")) == ["li", "wang", "wangli"]


def test_reference_forms(world: World) -> None:
    world.put(observation("of-p1", world, subject=world.ref("Patient", "p1")))
    world.put(observation("of-p2", world, subject=world.ref("Patient", "p2")))
    world.put(observation("of-group", world, subject=world.ref("Group", "p1")))
    world.put(observation("of-nobody", world))
    p1 = world.id("p1")
    for value in (f"Patient/{p1}", p1, f"https://fhir.example.org/r4/Patient/{p1}"):
        assert world.search("Observation", ("patient", value)) == ["of-p1"], value
    assert world.search("Observation", ("subject:Patient", p1)) == ["of-p1"]
    assert world.search("Observation", ("subject", f"Group/{p1}")) == ["of-group"]
    # `patient` reads `subject` but holds Patients only.
    assert world.sorted_search("Observation", ("subject", f"Patient/{p1},Group/{p1}")) == ["of-group", "of-p1"]
    assert world.sorted_search("Observation", ("patient:missing", "true")) == ["of-group", "of-nobody"]
    assert world.sorted_search("Observation", ("subject:missing", "false")) == ["of-group", "of-p1", "of-p2"]
    assert world.sorted_search("Observation", ("patient:not", p1)) == ["of-group", "of-nobody", "of-p2"]


def test_id_and_tag(world: World) -> None:
    world.put(observation("a", world))
    world.put(observation("b", world, meta={"tag": [{"system": "urn:flags", "code": "urgent"}]}))
    world.put(observation("c", world, meta={"tag": [{"system": "urn:other", "code": "urgent"}]}))
    assert world.sorted_search("Observation", ("_id", f"{world.id('a')},{world.id('c')},nope")) == ["a", "c"]
    assert world.search("Observation", ("_id", world.id("a")), ("_id", world.id("b"))) == []
    assert world.search("Observation", ("_tag", "urn:flags|urgent")) == ["b"]
    assert world.sorted_search("Observation", ("_tag", "urgent")) == ["b", "c"]
    assert world.search("Observation", ("_tag:not", "urgent")) == ["a"]


# --- dates -------------------------------------------------------------------------------------

DATED = {
    "g": {"effectiveDateTime": "2024-02-29T23:59:59Z"},
    "a": {"effectiveDateTime": "2024-03-04T23:59:59Z"},
    "b": {"effectiveDateTime": "2024-03-05T00:00:00Z"},
    "c": {"effectiveDateTime": "2024-03-05T23:59:59Z"},
    "d": {"effectiveDateTime": "2024-03-06T00:00:00Z"},
    "e": {"effectivePeriod": {"start": "2024-03-05T12:00:00Z", "end": "2024-03-06T12:00:00Z"}},
    "f": {"effectiveDateTime": "2024-03"},
    "h": {"effectiveDateTime": "2024-04-01T00:00:00Z"},
    "z": {"effectiveDateTime": "2024-03-05T07:30:00+08:00"},  # 2024-03-04T23:30Z
    "open": {"effectivePeriod": {"start": "2024-03-05T08:00:00Z"}},
    "none": {},
}


@pytest.fixture
def dated(world: World) -> World:
    for name, extra in DATED.items():
        world.put(observation(name, world, **extra))
    return world


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # day precision: the day is [2024-03-05T00:00Z, 2024-03-05T23:59:59.999999Z]
        ("2024-03-05", "b c"),
        ("eq2024-03-05", "b c"),
        ("ne2024-03-05", "a d e f g h open z"),
        ("gt2024-03-05", "d e f h open"),
        ("lt2024-03-05", "a f g z"),
        ("ge2024-03-05", "b c d e f h open"),
        ("le2024-03-05", "a b c f g z"),
        ("sa2024-03-05", "d h"),
        ("eb2024-03-05", "a g z"),
        ("eq2024-03-04", "a z"),
        # month precision: March is [2024-03-01, 2024-03-31T23:59:59.999999Z]
        ("eq2024-03", "a b c d e f z"),
        ("ne2024-03", "g h open"),
        ("gt2024-03", "h open"),
        ("lt2024-03", "g"),
        ("ge2024-03", "a b c d e f h open z"),
        ("le2024-03", "a b c d e f g z"),
        ("sa2024-03", "h"),
        ("eb2024-03", "g"),
        # seconds and zones
        ("2024-03-05T00:00:00Z", "b"),
        ("2024-03-05T08:00:00+08:00", "b"),
        ("eq2024-03-04T23:30", "z"),
        ("2024-03-05,2024-03-04", "a b c z"),
    ],
)
def test_date_prefixes_against_ranges(dated: World, value: str, expected: str) -> None:
    assert dated.sorted_search("Observation", ("date", value)) == expected.split()


def test_dates_and_between_and_missing(dated: World) -> None:
    between = dated.sorted_search("Observation", ("date", "ge2024-03-05"), ("date", "lt2024-03-06"))
    # e and the open period end after the 5th (ge) and start before the 6th (lt); f is all March.
    assert between == ["b", "c", "e", "f", "open"]
    assert dated.search("Observation", ("date:missing", "true")) == ["none"]
    assert len(dated.search("Observation", ("date:missing", "false"))) == len(DATED) - 1


def test_last_updated(world: World) -> None:
    for name in ("first", "second", "third"):
        world.put(observation(name, world))  # at START + 1, 2, 3 minutes
    second = START + timedelta(minutes=2)
    assert world.search("Observation", ("_lastUpdated", "gt" + second.isoformat())) == ["third"]
    assert world.sorted_search("Observation", ("_lastUpdated", "le" + second.isoformat())) == ["first", "second"]
    assert world.search("Observation", ("_lastUpdated", second.strftime("%Y-%m-%dT%H:%M"))) == ["second"]
    assert world.search("Observation", ("_lastUpdated", "sa" + START.strftime("%Y-%m-%d"))) == []
    assert len(world.search("Observation", ("_lastUpdated", START.strftime("%Y-%m-%d")))) == 3


# --- sorting, paging, totals -------------------------------------------------------------------


@pytest.fixture
def sortable(world: World) -> World:
    statuses = {"o1": "final", "o2": "amended", "o3": "final", "o4": "preliminary", "o5": "amended", "o6": "final"}
    dates = {"o1": "2024-01-03", "o2": "2024-01-01", "o3": "2024-01-02", "o4": "2024-01-02", "o6": "2024-01-05"}
    for name in ("o3", "o6", "o1", "o5", "o2", "o4"):  # write order = _lastUpdated order
        extra = {"effectiveDateTime": dates[name]} if name in dates else {}
        world.put({**observation(name, world, **extra), "status": statuses[name]})
    return world


def test_default_order_is_newest_first(sortable: World) -> None:
    assert sortable.search("Observation") == ["o4", "o2", "o5", "o1", "o6", "o3"]
    assert sortable.search("Observation", ("_sort", "_lastUpdated")) == ["o3", "o6", "o1", "o5", "o2", "o4"]


def test_sort_by_parameters_with_ties_broken_by_id(sortable: World) -> None:
    assert sortable.search("Observation", ("_sort", "status")) == ["o2", "o5", "o1", "o3", "o6", "o4"]
    assert sortable.search("Observation", ("_sort", "-status")) == ["o4", "o1", "o3", "o6", "o2", "o5"]
    assert sortable.search("Observation", ("_sort", "-status,-_id")) == ["o4", "o6", "o3", "o1", "o5", "o2"]
    # Without a date, o5 sorts last both ways.
    assert sortable.search("Observation", ("_sort", "date")) == ["o2", "o3", "o4", "o1", "o6", "o5"]
    assert sortable.search("Observation", ("_sort", "-date")) == ["o6", "o1", "o3", "o4", "o2", "o5"]
    assert sortable.search("Observation", ("_sort", "status,-date")) == ["o2", "o5", "o6", "o1", "o3", "o4"]
    assert sortable.search("Observation", ("_sort", "-_id")) == ["o6", "o5", "o4", "o3", "o2", "o1"]


@pytest.mark.parametrize("sort", ["status", "-status", "date", "-date", "-_lastUpdated", "_id"])
def test_pages_are_stable_and_complete(sortable: World, sort: str) -> None:
    everything = sortable.search("Observation", ("_sort", sort))
    pages: list[str] = []
    for offset in (0, 2, 4, 6):
        page = sortable.repo.search(
            sortable.query("Observation", ("_sort", sort), ("_count", "2"), ("_offset", str(offset)))
        )
        assert page.total == 6
        pages += sortable.names(page.resources)
    assert pages == everything


def test_totals_count_zero_and_summary_count(sortable: World) -> None:
    page = sortable.repo.search(sortable.query("Observation", ("status", "final"), ("_count", "1")))
    assert page.total == 3 and sortable.names(page.resources) == ["o1"]
    zero = sortable.repo.search(sortable.query("Observation", ("_count", "0")))
    assert zero.total == 6 and zero.resources == []
    summary = sortable.repo.search(sortable.query("Observation", ("_summary", "count")))
    assert summary.total == 6 and summary.resources == []
    beyond = sortable.repo.search(sortable.query("Observation", ("_offset", "10")))
    assert beyond.total == 6 and beyond.resources == []


# --- restrictions ------------------------------------------------------------------------------


@pytest.fixture
def homes(world: World) -> World:
    world.put(patient("p1", managingOrganization=world.ref("Organization", "h1")))
    world.put(patient("p2", managingOrganization=world.ref("Organization", "h1")))
    world.put(patient("p3", managingOrganization=world.ref("Organization", "h2")))
    world.put(patient("p7", managingOrganization=world.ref("Organization", "h2")))
    world.put(patient("gone", managingOrganization=world.ref("Organization", "h1")))
    for name, subject in [("o1", "p1"), ("o2", "p2"), ("o3", "p3"), ("o7", "p7"), ("o-gone", "gone"), ("o1b", "p1")]:
        world.put(observation(name, world, subject=world.ref("Patient", subject)))
    world.put(observation("o-group", world, subject=world.ref("Group", "p1")))
    world.repo.delete("Patient", world.id("gone"))
    return world


def member_of(world: World, link: str, homes: list[str], ids: list[str]) -> MemberOf:
    return MemberOf(
        link_param=link,
        target_type="Patient",
        target_param="organization",
        target_values=frozenset(f"Organization/{world.id(h)}" for h in homes),
        target_ids=frozenset(world.id(i) for i in ids),
    )


def test_member_of_filters_in_sql_so_totals_and_pages_agree(homes: World) -> None:
    visible = [member_of(homes, "patient", ["h1"], ["p7"])]
    assert homes.search("Observation", ("_sort", "_id"), restrictions=visible) == ["o1", "o1b", "o2", "o7"]
    first = homes.repo.search(homes.query("Observation", ("_sort", "_id"), ("_count", "3")), visible)
    assert first.total == 4 and homes.names(first.resources) == ["o1", "o1b", "o2"]
    second = homes.repo.search(homes.query("Observation", ("_sort", "_id"), ("_count", "3"), ("_offset", "3")), visible)
    assert homes.names(second.resources) == ["o7"]
    # o3 belongs to a resident of the other home: not even a search naming it finds it.
    assert homes.search("Observation", ("patient", homes.id("p3")), restrictions=visible) == []
    assert homes.search("Observation", ("_sort", "_id"), restrictions=[member_of(homes, "patient", [], ["p3"])]) == [
        "o3"
    ]
    assert homes.search("Observation", restrictions=[member_of(homes, "patient", [], [])]) == []


def test_member_of_by_own_id_and_deleted_targets(homes: World) -> None:
    visible = [member_of(homes, "_id", ["h1"], ["p7"])]
    assert homes.search("Patient", ("_sort", "_id"), restrictions=visible) == ["p1", "p2", "p7"]
    # The deleted resident's observation stays, but is no longer visible through it.
    assert homes.search("Observation", ("patient", homes.id("gone"))) == ["o-gone"]
    assert (
        homes.search(
            "Observation", ("patient", homes.id("gone")), restrictions=[member_of(homes, "patient", ["h1"], ["gone"])]
        )
        == []
    )


def test_value_in_restrictions(homes: World) -> None:
    h2 = ValueIn("organization", frozenset({f"Organization/{homes.id('h2')}", "Organization/elsewhere"}))
    assert homes.search("Patient", ("_sort", "_id"), restrictions=[h2]) == ["p3", "p7"]
    assert homes.search("Patient", restrictions=[ValueIn("organization", frozenset())]) == []
    ids = ValueIn("_id", frozenset({homes.id("p1"), homes.id("p3")}))
    assert homes.search("Patient", ("_sort", "_id"), restrictions=[h2, ids]) == ["p3"]
    tag = ValueIn("_tag", frozenset({homes.prefix}))
    assert len(homes.search("Patient", restrictions=[tag])) == 4


# --- _include / _revinclude --------------------------------------------------------------------


@pytest.fixture
def reports(world: World) -> World:
    world.put(patient("p1"))
    world.put(patient("p2"))
    world.put(observation("hr", world, subject=world.ref("Patient", "p1")))
    world.put(observation("temp", world, subject=world.ref("Patient", "p1")))
    world.put(observation("bp", world, subject=world.ref("Patient", "p2")))
    world.put(observation("deleted", world, subject=world.ref("Patient", "p1")))
    world.put(observation("of-group", world, subject=world.ref("Group", "g1")))
    world.repo.delete("Observation", world.id("deleted"))
    world.put(
        {
            "resourceType": "DiagnosticReport",
            "id": "r1",
            "status": "final",
            "code": {"text": "vitals"},
            "subject": world.ref("Patient", "p1"),
            "result": [world.ref("Observation", n) for n in ("temp", "hr", "deleted", "missing", "hr")],
        }
    )
    return world


def test_include_fetches_current_targets_in_reference_order(reports: World) -> None:
    report = reports.repo.read("DiagnosticReport", reports.id("r1"))
    found = include(reports.session, [report], IncludeSpec("DiagnosticReport", "result"))
    assert reports.names(found) == ["temp", "hr"]
    assert reports.names(include(reports.session, [report], IncludeSpec("DiagnosticReport", "subject", "Patient"))) == [
        "p1"
    ]
    assert include(reports.session, [report], IncludeSpec("DiagnosticReport", "subject", "Group")) == []
    observations = [reports.repo.read("Observation", reports.id(n)) for n in ("hr", "bp", "of-group")]
    assert reports.names(include(reports.session, observations, IncludeSpec("Observation", "subject"))) == ["p1", "p2"]
    assert include(reports.session, observations, IncludeSpec("DiagnosticReport", "result")) == []


def test_revinclude_finds_current_referrers(reports: World) -> None:
    patients = [reports.repo.read("Patient", reports.id(n)) for n in ("p1", "p2")]
    found = revinclude(reports.session, patients, IncludeSpec("Observation", "patient"))
    assert reports.names(found) == ["bp", "hr", "temp"]
    assert reports.names(
        revinclude(reports.session, patients[1:], IncludeSpec("Observation", "subject", "Patient"))
    ) == ["bp"]
    assert revinclude(reports.session, patients, IncludeSpec("Observation", "subject", "Group")) == []
    assert reports.names(revinclude(reports.session, patients, IncludeSpec("DiagnosticReport", "patient"))) == ["r1"]
    assert reports.names(revinclude(reports.session, patients, IncludeSpec("Observation", "patient"), limit=2)) == [
        "bp",
        "hr",
    ]


def test_referenced_by_and_exists(reports: World) -> None:
    repo = reports.repo
    assert repo.referenced_by("Observation", reports.id("hr")) == [f"DiagnosticReport/{reports.id('r1')}"]
    referrers = repo.referenced_by("Patient", reports.id("p1"))
    assert referrers == [
        f"DiagnosticReport/{reports.id('r1')}",
        *(f"Observation/{reports.id(n)}" for n in ("hr", "temp")),
    ]
    assert repo.referenced_by("Patient", reports.id("p1"), limit=1) == [f"DiagnosticReport/{reports.id('r1')}"]
    assert repo.referenced_by("Patient", reports.id("p1"), exclude_types={"DiagnosticReport"}) == [
        f"Observation/{reports.id(n)}" for n in ("hr", "temp")
    ]
    assert repo.referenced_by("Observation", reports.id("bp")) == []
    # Records about a resource (audit, provenance) do not hold it, unless the caller says they do.
    reports.put(
        {
            "resourceType": "AuditEvent",
            "id": "audit",
            "type": {"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "110110"},
            "recorded": "2024-03-05T10:00:00Z",
            "agent": [{"who": {"display": "nurse"}, "requestor": True}],
            "source": {"observer": {"display": "test"}},
            "entity": [{"what": reports.ref("Observation", "bp")}],
        }
    )
    assert repo.referenced_by("Observation", reports.id("bp")) == []
    assert repo.referenced_by("Observation", reports.id("bp"), exclude_types=()) == [
        f"AuditEvent/{reports.id('audit')}"
    ]
    # Every reference counts, not only those a search parameter reads (hasMember is not one).
    reports.put(observation("panel", reports, hasMember=[reports.ref("Observation", "bp")]))
    assert repo.referenced_by("Observation", reports.id("bp")) == [f"Observation/{reports.id('panel')}"]
    assert repo.exists("Patient", reports.id("p1"))
    assert not repo.exists("Observation", reports.id("deleted"))
    assert not repo.exists("Patient", reports.id("never"))


def test_deleted_resources_never_appear(reports: World) -> None:
    assert "deleted" not in reports.search("Observation")
    assert reports.search("Observation", ("_id", reports.id("deleted"))) == []
    assert reports.search("Observation", ("code:not", "nothing-has-this"), ("_id", reports.id("deleted"))) == []
    assert reports.search("Observation", ("patient:missing", "true"), ("_id", reports.id("deleted"))) == []
    assert reports.repo.find("Observation", {"_id": reports.id("deleted")}) == []


# --- find() is the same engine -----------------------------------------------------------------


def test_find_takes_search_values_and_returns_everything_by_id(dated: World) -> None:
    found = dated.repo.find("Observation", {"_tag": dated.tag, "date": ["eq2024-03-05", "sa2024-03"]})
    assert dated.names(found) == ["b", "c", "h"]
    assert dated.repo.find("Observation", {"_tag": dated.tag, "date": []}) == []
    with pytest.raises(OperationOutcomeError) as caught:
        dated.repo.find("Observation", {"date": "2024-02-30"})
    assert caught.value.status == 400
