from __future__ import annotations

import pytest

from bridge.auth.scopes import Scope, ScopeError, ScopeSet


def test_v2_and_v1_scopes() -> None:
    assert Scope.parse("system/Observation.cru").permissions == frozenset("cru")
    assert str(Scope.parse("user/Patient.read")) == "user/Patient.rs"
    assert ScopeSet.parse("system/*.rs").allows("Task", "s")
    assert not ScopeSet.parse("system/Observation.rs").allows("Observation", "c")


@pytest.mark.parametrize(
    "bad",
    [
        "system/Observation.rc",
        "system/Unicorn.r",
        "admin/Patient.r",
        "Patient.r",
        "system/Patient.",
        "system/Patient.x",
    ],
)
def test_malformed_scopes(bad: str) -> None:
    with pytest.raises(ScopeError):
        Scope.parse(bad)


def test_narrowing_grants_only_what_is_held() -> None:
    held = ScopeSet.parse("system/Observation.cru system/*.rs")
    assert str(held.narrowed_to(ScopeSet.parse("system/Observation.cruds"))) == "system/Observation.cru"
    assert str(held.narrowed_to(ScopeSet.parse("system/Task.r"))) == "system/Task.r"
    with pytest.raises(ScopeError):
        held.narrowed_to(ScopeSet.parse("system/Task.d"))
    with pytest.raises(ScopeError):
        held.narrowed_to(ScopeSet.parse("user/Observation.r"))
