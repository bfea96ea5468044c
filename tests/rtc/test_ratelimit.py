"""The token bucket, on a clock the test moves."""

from __future__ import annotations

import pytest

from rtc.ratelimit import TokenBucket


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_full_burst_then_refusals() -> None:
    clock = FakeClock()
    bucket = TokenBucket(50, 200, clock=clock)
    assert all(bucket.allow() for _ in range(200))
    assert not bucket.allow()
    assert not bucket.allow()
    assert bucket.refused == 2


def test_refills_at_the_rate_and_never_above_the_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(50, 200, clock=clock)
    for _ in range(200):
        bucket.allow()
    clock.now += 0.02  # exactly one token at 50/s
    assert bucket.allow()
    assert not bucket.allow()
    clock.now += 1.0
    assert sum(bucket.allow() for _ in range(100)) == 50
    clock.now += 3600
    assert bucket.tokens == 200


def test_steady_rate_is_sustained_without_refusals() -> None:
    clock = FakeClock()
    bucket = TokenBucket(10, 1, clock=clock)
    for _ in range(1000):
        assert bucket.allow()
        clock.now += 0.1
    assert bucket.refused == 0


def test_cost_takes_several_tokens_or_none() -> None:
    clock = FakeClock()
    bucket = TokenBucket(1, 5, clock=clock)
    assert bucket.allow(3)
    assert not bucket.allow(3)
    assert bucket.tokens == pytest.approx(2)
    assert bucket.allow(2)
    assert bucket.refused == 1


def test_a_clock_stepping_back_does_not_drain_or_fill() -> None:
    clock = FakeClock()
    bucket = TokenBucket(1, 2, clock=clock)
    bucket.allow(2)
    clock.now -= 100
    assert bucket.tokens == 0
    clock.now += 1
    assert bucket.allow()


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 1), (1, 0)])
def test_invalid_configuration(rate: float, burst: int) -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate, burst)


def test_cost_beyond_the_burst_can_never_pass_and_is_refused() -> None:
    bucket = TokenBucket(1, 2, clock=FakeClock())
    with pytest.raises(ValueError):
        bucket.allow(3)
    with pytest.raises(ValueError):
        bucket.allow(0)
