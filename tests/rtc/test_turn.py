"""TURN REST credentials as coturn's use-auth-secret checks them, and the ICE server list clients get."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from datetime import UTC, datetime, timedelta, timezone

import pytest

from rtc.turn import IceServer, ice_servers_for, parse_ice_url, turn_rest_credentials

SECRET = "coturn-shared-secret"
NOW = datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)  # 1700000000
PARTICIPANT = "p-0123456789ab"


def test_credentials_match_an_independent_hmac() -> None:
    username, password = turn_rest_credentials(SECRET, PARTICIPANT, NOW, 3600)
    assert username == f"1700003600:{PARTICIPANT}"
    expected = base64.b64encode(hmac.new(SECRET.encode(), username.encode(), hashlib.sha1).digest()).decode()
    assert password == expected


def test_credentials_match_a_vector_computed_with_openssl() -> None:
    # printf '%s' '1700003600:p-0123456789ab' | openssl dgst -sha1 -hmac 'coturn-shared-secret' -binary | base64
    assert turn_rest_credentials(SECRET, PARTICIPANT, NOW, 3600) == (
        "1700003600:p-0123456789ab",
        "3udz8lnlECkV7qScZN5vuLMb7LU=",
    )


def test_expiry_is_now_plus_lifetime_in_unix_seconds_whatever_the_time_zone() -> None:
    shanghai = NOW.astimezone(timezone(timedelta(hours=8)))
    username, _ = turn_rest_credentials(SECRET, "nurse", shanghai + timedelta(microseconds=999_999), 60)
    assert username == "1700000060:nurse"


@pytest.mark.parametrize("ttl", [3601, 86400, 0, -5])
def test_lifetime_is_positive_and_capped_at_an_hour(ttl: int) -> None:
    with pytest.raises(ValueError, match="lifetime"):
        turn_rest_credentials(SECRET, "nurse", NOW, ttl)


@pytest.mark.parametrize("user", ["a:b", ":", ""])
def test_user_with_the_separator_or_empty_is_refused(user: str) -> None:
    with pytest.raises(ValueError, match="user"):
        turn_rest_credentials(SECRET, user, NOW, 60)


def test_naive_time_and_empty_secret_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        turn_rest_credentials(SECRET, "nurse", datetime(2023, 11, 14, 22, 13, 20), 60)
    with pytest.raises(ValueError, match="secret"):
        turn_rest_credentials("", "nurse", NOW, 60)


def test_ice_servers_with_several_turn_hosts_share_one_credential() -> None:
    servers = ice_servers_for(
        PARTICIPANT,
        stun_urls=["stun:turn1.example.org:3478", "stun:turn2.example.org"],
        turn_urls=[
            "turn:turn1.example.org:3478?transport=udp",
            "turn:turn1.example.org:3478?transport=tcp",
            "turns:TURN1.example.org:5349",
            "turn:turn2.example.org:3478",
            "turn:[2001:db8::1]:3478",
        ],
        shared_secret=SECRET,
        ttl_seconds=3600,
        now=NOW,
    )
    username, password = turn_rest_credentials(SECRET, PARTICIPANT, NOW, 3600)
    assert [server.as_json() for server in servers] == [
        {"urls": ["stun:turn1.example.org:3478", "stun:turn2.example.org"]},
        {
            "urls": [
                "turn:turn1.example.org:3478?transport=udp",
                "turn:turn1.example.org:3478?transport=tcp",
                "turns:TURN1.example.org:5349",
            ],
            "username": username,
            "credential": password,
        },
        {"urls": ["turn:turn2.example.org:3478"], "username": username, "credential": password},
        {"urls": ["turn:[2001:db8::1]:3478"], "username": username, "credential": password},
    ]


def test_turn_without_a_secret_is_left_out_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="rtc.turn"):
        servers = ice_servers_for(
            "nurse",
            stun_urls=["stun:stun.example.org"],
            turn_urls=["turn:turn.example.org"],
            shared_secret=None,
            ttl_seconds=600,
            now=NOW,
        )
    assert servers == [IceServer(urls=("stun:stun.example.org",))]
    assert all("username" not in s.as_json() and "credential" not in s.as_json() for s in servers)
    assert "without a shared secret" in caplog.text


def test_no_urls_gives_an_empty_list() -> None:
    assert ice_servers_for("nurse", stun_urls=[], turn_urls=[], shared_secret=SECRET, ttl_seconds=60, now=NOW) == []


def test_ice_servers_for_refuses_a_long_lifetime_and_misplaced_urls() -> None:
    with pytest.raises(ValueError, match="cap"):
        ice_servers_for("nurse", stun_urls=[], turn_urls=[], shared_secret=SECRET, ttl_seconds=7200, now=NOW)
    with pytest.raises(ValueError, match="wrong lists"):
        ice_servers_for(
            "nurse", stun_urls=["turn:t.example.org"], turn_urls=[], shared_secret=SECRET, ttl_seconds=60, now=NOW
        )


@pytest.mark.parametrize(
    "url",
    [
        "http://turn.example.org",
        "turn://turn.example.org",
        "turn:",
        "turn:turn.example.org:99999",
        "turn:turn.example.org:3478?transport=sctp",
        "stun:stun.example.org?transport=udp",
        "turn:user@turn.example.org",
        " stun:stun.example.org",
    ],
)
def test_invalid_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        parse_ice_url(url)
    with pytest.raises(ValueError):
        IceServer(urls=(url,))


def test_ice_server_needs_a_url() -> None:
    with pytest.raises(ValueError):
        IceServer(urls=())
