"""The per-instance cache of callers resolved from bearer tokens: its time bound and its size bound."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bridge.accounts.roles import Role
from bridge.auth.principal import Channel, Principal, PrincipalKind
from bridge.auth.principal_cache import PrincipalCache
from bridge.auth.scopes import ScopeSet
from bridge.directory.codes import OrgKind

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
TTL = timedelta(seconds=5)
TOKEN_EXPIRY = T0 + timedelta(minutes=10)


def principal(subject: str = "account-1") -> Principal:
    return Principal(
        kind=PrincipalKind.USER,
        subject_id=subject,
        display_name="Nurse",
        organization_id="home-1",
        organization_kind=OrgKind.NURSING_HOME,
        scopes=ScopeSet.parse("user/*.cruds"),
        channel=Channel.BEARER,
        role=Role.NURSE,
    )


def test_a_resolved_token_is_reused_until_the_bound_then_resolved_again() -> None:
    cache = PrincipalCache(TTL)
    nurse = principal()
    assert cache.get("token", T0) is None
    cache.put("token", nurse, TOKEN_EXPIRY, T0)
    assert cache.get("token", T0) is nurse
    assert cache.get("token", T0 + TTL - timedelta(microseconds=1)) is nurse
    assert cache.get("token", T0 + TTL) is None
    assert len(cache) == 0  # the stale entry is dropped, not kept


def test_an_entry_never_outlives_its_token() -> None:
    cache = PrincipalCache(TTL)
    expires = T0 + timedelta(seconds=2)
    cache.put("token", principal(), expires, T0)
    assert cache.get("token", expires - timedelta(microseconds=1)) is not None
    assert cache.get("token", expires) is None


def test_a_clock_set_back_does_not_extend_an_entry() -> None:
    cache = PrincipalCache(TTL)
    cache.put("token", principal(), TOKEN_EXPIRY, T0)
    assert cache.get("token", T0 - timedelta(seconds=1)) is None


def test_other_tokens_are_other_entries() -> None:
    cache = PrincipalCache(TTL)
    cache.put("token-a", principal("a"), TOKEN_EXPIRY, T0)
    cache.put("token-b", principal("b"), TOKEN_EXPIRY, T0)
    assert cache.get("token-a", T0) == principal("a") and cache.get("token-b", T0) == principal("b")
    assert cache.get("token-c", T0) is None


def test_the_size_is_bounded_dropping_expired_entries_first_then_the_oldest() -> None:
    cache = PrincipalCache(TTL, max_entries=3)
    cache.put("old", principal("old"), TOKEN_EXPIRY, T0 - TTL)  # already stale at T0
    cache.put("a", principal("a"), TOKEN_EXPIRY, T0)
    cache.put("b", principal("b"), TOKEN_EXPIRY, T0)
    cache.put("c", principal("c"), TOKEN_EXPIRY, T0)  # full: the stale entry makes room
    assert len(cache) == 3 and cache.get("a", T0) is not None
    cache.put("d", principal("d"), TOKEN_EXPIRY, T0)  # full of live entries: the oldest goes
    assert len(cache) == 3
    assert cache.get("a", T0) is None
    assert all(cache.get(token, T0) is not None for token in ("b", "c", "d"))


def test_a_zero_bound_turns_the_cache_off() -> None:
    cache = PrincipalCache(timedelta(0))
    cache.put("token", principal(), TOKEN_EXPIRY, T0)
    assert cache.get("token", T0) is None and len(cache) == 0


def test_tokens_are_not_kept_in_clear() -> None:
    cache = PrincipalCache(TTL)
    cache.put("secret-token-value", principal(), TOKEN_EXPIRY, T0)
    assert "secret-token-value" not in repr(cache._entries)


def test_max_entries_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_entries"):
        PrincipalCache(TTL, max_entries=0)
