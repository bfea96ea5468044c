"""SQL conditions on ``StoredResource`` for search clauses, restrictions and sort keys.

One code path for SQLite and PostgreSQL: only IN / NOT IN subqueries over the index, comparisons
and ``||`` concatenation. Dates are compared as UTC datetimes (the index stores UTC, see indexing).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, func, intersect, literal, not_, or_, select
from sqlalchemy.orm import aliased

from fhir_adapter.search.query import Clause, SearchQuery, SortKey
from fhir_adapter.search.values import DateValue, date_value, missing_value, token_value
from fhir_adapter.search_params import ParamType, SearchParam, params_for
from fhir_adapter.store.indexing import normalise_string
from fhir_adapter.store.tables import SearchIndexEntry, StoredResource

Condition = ColumnElement[bool]


@dataclass(frozen=True)
class MemberOf:
    """Restrict to resources whose reference parameter `link_param` (or their own id when link_param == "_id")
    points at a `target_type` resource that is current (not deleted) and either has `target_param` equal
    to one of `target_values` (reference/token index values, e.g. "Organization/h1") or has an id in `target_ids`."""

    link_param: str
    target_type: str
    target_param: str | None
    target_values: frozenset[str]
    target_ids: frozenset[str]


@dataclass(frozen=True)
class ValueIn:
    """Restrict to resources with parameter `param` having one of `values` (index values as stored).

    Token parameters compare the code only, whatever its system; ``_id`` compares the resource id."""

    param: str
    values: frozenset[str]


Restriction = MemberOf | ValueIn


def conditions(query: SearchQuery, restrictions: Sequence[Restriction] = ()) -> list[Condition]:
    """Everything a current resource must satisfy to match the query and the restrictions."""
    found: list[Condition] = [
        StoredResource.resource_type == query.resource_type,
        StoredResource.deleted.is_(False),
    ]
    # Criteria that each select resource ids from the index are intersected in one set operation.
    # As separate IN subqueries, PostgreSQL (which takes resource_type, param and value as independent
    # columns and so underestimates every one) probed the matches of one criterion row by row.
    intersected: list[Select[Any]] = []
    for clause in query.clauses:
        owners = _positive_owners(query.resource_type, clause)
        if owners is None:
            found.append(_clause(query.resource_type, clause))
        else:
            intersected.append(owners)
    if len(intersected) == 1:
        found.append(StoredResource.id.in_(intersected[0]))
    elif intersected:
        found.append(StoredResource.id.in_(intersect(*intersected)))
    found += [_restriction(query.resource_type, restriction) for restriction in restrictions]
    return found


def order_by(query: SearchQuery) -> list[Any]:
    """The sort keys asked for (or newest first), then the id so that pages never shift."""
    keys = query.sort or (SortKey("_lastUpdated", descending=True),)
    columns = [_sort_column(query.resource_type, key) for key in keys]
    return [*columns, StoredResource.id.asc()]


def _owners(resource_type: str, param: str, *where: Condition) -> Select[Any]:
    """Ids of the resources of a type with an index row of ``param`` meeting ``where``."""
    return select(SearchIndexEntry.resource_id).where(
        SearchIndexEntry.resource_type == resource_type, SearchIndexEntry.param == param, *where
    )


def _positive_owners(resource_type: str, clause: Clause) -> Select[Any] | None:
    """Ids of the resources an index criterion selects, or None for criteria of another shape."""
    if clause.name in {"_id", "_lastUpdated"} or clause.modifier in {"missing", "not"}:
        return None
    param = params_for(resource_type)[clause.name]
    return _owners(resource_type, param.name, or_(*(_value(param, clause.modifier, v) for v in clause.values)))


def _clause(resource_type: str, clause: Clause) -> Condition:
    if clause.name == "_id":
        return StoredResource.id.in_(clause.values)
    if clause.name == "_lastUpdated":
        moment = StoredResource.last_updated
        return or_(*(date_match(moment, moment, date_value(clause.name, v)) for v in clause.values))
    param = params_for(resource_type)[clause.name]
    if clause.modifier == "missing":
        has_value = StoredResource.id.in_(_owners(resource_type, param.name))
        return or_(*(not_(has_value) if missing_value(param.name, v) else has_value for v in clause.values))
    matches = _owners(resource_type, param.name, or_(*(_value(param, clause.modifier, v) for v in clause.values)))
    if clause.modifier == "not":
        # FHIR :not is "no value matches", which includes resources without the parameter at all.
        return not_(StoredResource.id.in_(matches))
    return StoredResource.id.in_(matches)


def _value(param: SearchParam, modifier: str | None, raw: str) -> Condition:
    entry = SearchIndexEntry
    if param.type is ParamType.TOKEN:
        token = token_value(param.name, raw)
        parts = [entry.value == token.code] if token.code is not None else []
        if token.system == "":
            parts.append(entry.system.is_(None))
        elif token.system is not None:
            parts.append(entry.system == token.system)
        return and_(*parts)
    if param.type is ParamType.REFERENCE:
        return entry.value == raw  # normalised to Type/id by the parser
    if param.type is ParamType.STRING:
        # The index holds the normalised string only (case folded, whitespace collapsed), so :exact
        # is equality of normalised values: "Wang" and "wang  " are the same to it.
        text = normalise_string(raw)
        if modifier == "exact":
            return entry.value == text
        if modifier == "contains":
            return entry.value.contains(text, autoescape=True)
        return entry.value.startswith(text, autoescape=True)
    return date_match(entry.date_start, entry.date_end, date_value(param.name, raw))


def date_match(low: Any, high: Any, wanted: DateValue) -> Condition:
    """FHIR R4 date search: the stored range [low, high] against the value's range [start, end].

    Literally as R4 defines the prefixes: eq is containment (an open-ended period is never "on" a
    day), ge/le are gt/lt or eq (not "overlaps"), sa/eb are strictly after/before. To find what
    overlaps a day D, search ``gt(D-1)`` and ``lt(D+1)``.
    """
    start, end = wanted.start, wanted.end
    within = and_(low >= start, high <= end)
    matches: dict[str, Condition] = {
        "eq": within,
        "ne": or_(low < start, high > end),
        "gt": high > end,
        "lt": low < start,
        "ge": or_(high > end, within),
        "le": or_(low < start, within),
        "sa": low > end,
        "eb": high < start,
    }
    return matches[wanted.prefix]


def _restriction(resource_type: str, restriction: Restriction) -> Condition:
    if isinstance(restriction, ValueIn):
        if not restriction.values:
            return false()
        if restriction.param == "_id":
            return StoredResource.id.in_(sorted(restriction.values))
        return StoredResource.id.in_(
            _owners(resource_type, restriction.param, SearchIndexEntry.value.in_(sorted(restriction.values)))
        )
    return _member_of(resource_type, restriction)


def _member_of(resource_type: str, member: MemberOf) -> Condition:
    target = aliased(StoredResource)
    chosen: list[Condition] = []
    if member.target_ids:
        chosen.append(target.id.in_(sorted(member.target_ids)))
    if member.target_values and member.target_param:
        values = SearchIndexEntry.value.in_(sorted(member.target_values))
        chosen.append(target.id.in_(_owners(member.target_type, member.target_param, values)))
    if not chosen:
        return false()
    current = and_(target.resource_type == member.target_type, target.deleted.is_(False), or_(*chosen))
    if member.link_param == "_id":
        return StoredResource.id.in_(select(target.id).where(current))
    link = aliased(SearchIndexEntry)
    linked = (
        select(link.resource_id)
        .join(target, link.value == literal(f"{member.target_type}/") + target.id)
        .where(link.resource_type == resource_type, link.param == member.link_param, current)
    )
    return StoredResource.id.in_(linked)


def _sort_column(resource_type: str, key: SortKey) -> Any:
    if key.name == "_id":
        return StoredResource.id.desc() if key.descending else StoredResource.id.asc()
    if key.name == "_lastUpdated":
        updated = StoredResource.last_updated
        return updated.desc() if key.descending else updated.asc()
    param = params_for(resource_type)[key.name]
    column: Any = SearchIndexEntry.date_start if param.type is ParamType.DATE else SearchIndexEntry.value
    # Ascending by the smallest value, descending by the largest, as FHIR suggests for repeats.
    extreme = func.max(column) if key.descending else func.min(column)
    value = (
        select(extreme)
        .where(
            SearchIndexEntry.resource_type == StoredResource.resource_type,
            SearchIndexEntry.resource_id == StoredResource.id,
            SearchIndexEntry.param == param.name,
        )
        .scalar_subquery()
    )
    return (value.desc() if key.descending else value.asc()).nulls_last()
