"""The referral tests' own care network, once per backend."""

from __future__ import annotations

import pytest

from tests.bridge.referrals.support import Network, build_network
from tests.conftest import Bridge


@pytest.fixture(scope="module")
def network(bridge: Bridge) -> Network:
    return build_network(bridge)
