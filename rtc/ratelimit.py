"""A token bucket: a burst allowance refilled at a steady rate."""

from __future__ import annotations

import time
from collections.abc import Callable

# Refills are sums of float products; without a little slack, exactly enough tokens can come out as
# 0.9999999999 and refuse a message that the configured rate allows.
_EPSILON = 1e-9


class TokenBucket:
    """Allows ``burst`` operations at once, then ``rate_per_second`` on average.

    Not thread-safe: one bucket belongs to one connection in one event loop.
    """

    def __init__(self, rate_per_second: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        if rate_per_second <= 0:
            raise ValueError(f"rate_per_second must be positive, not {rate_per_second}")
        if burst < 1:
            raise ValueError(f"burst must be at least 1, not {burst}")
        self.rate_per_second = rate_per_second
        self.burst = burst
        self.refused = 0
        self._clock = clock
        self._tokens = float(burst)
        self._updated = clock()

    @property
    def tokens(self) -> float:
        """Tokens available now."""
        self._refill()
        return self._tokens

    def allow(self, cost: float = 1.0) -> bool:
        """Take ``cost`` tokens if there are enough; otherwise count a refusal and take nothing."""
        if cost <= 0 or cost > self.burst:
            raise ValueError(f"cost must be in (0, {self.burst}], not {cost}")
        self._refill()
        if self._tokens + _EPSILON >= cost:
            self._tokens = max(0.0, self._tokens - cost)
            return True
        self.refused += 1
        return False

    def _refill(self) -> None:
        now = self._clock()
        # A clock that steps backwards (an injected one, or a wall clock) must not drain the bucket.
        elapsed = max(0.0, now - self._updated)
        self._updated = now
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate_per_second)
