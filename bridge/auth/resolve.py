"""Turn a bearer token or a session cookie into a Principal, checking the account or client still exists."""

from __future__ import annotations

import logging

from bridge.accounts.roles import ROLE_MAX_SCOPES, Role
from bridge.auth.principal import Channel, Principal, PrincipalKind
from bridge.auth.scopes import ScopeError, ScopeSet
from bridge.auth.sessions import SessionLookup
from bridge.auth.tokens import TokenRejected
from bridge.db.tables import Account, ApiClient
from bridge.errors import AuthenticationRequired
from bridge.services import Services

logger = logging.getLogger(__name__)


def principal_from_bearer(services: Services, token: str) -> Principal:
    """The caller a bearer token names, from the per-instance cache when it resolved the token within
    the last ``principal_cache_seconds`` (see bridge/auth/principal_cache.py), else from the database."""
    now = services.now()
    cached = services.runtime.principals.get(token, now)
    if cached is not None:
        return cached
    try:
        claims = services.runtime.tokens.verify(token, now)
        scopes = ScopeSet.parse(claims.scope)
    except (TokenRejected, ScopeError) as exc:
        logger.warning("bearer token rejected: %s", exc)
        raise AuthenticationRequired("error.token_invalid") from exc
    if claims.subject_kind == "user":
        account = services.db.get(Account, claims.subject_id)
        if account is None or not account.active:
            raise AuthenticationRequired("error.token_invalid")
        principal = _user_principal(services, account, scopes, Channel.BEARER, None)
    else:
        client = services.clients.get(claims.subject_id)
        if client is None or not client.active:
            raise AuthenticationRequired("error.token_invalid")
        principal = client_principal(services, client, scopes)
    services.runtime.principals.put(token, principal, claims.expires_at, now)
    return principal


def principal_from_session(services: Services, lookup: SessionLookup) -> Principal | None:
    if lookup.account is None or lookup.session is None:
        return None
    role = Role(lookup.account.role)
    return _user_principal(
        services, lookup.account, ScopeSet.parse(ROLE_MAX_SCOPES[role]), Channel.SESSION, lookup.session.csrf_token
    )


def user_principal(services: Services, account: Account) -> Principal:
    """An account acting without a request of its own (a replay of what it once uploaded): the role's
    scopes, as a session would have."""
    role = Role(account.role)
    return _user_principal(services, account, ScopeSet.parse(ROLE_MAX_SCOPES[role]), Channel.SESSION, None)


def client_principal(services: Services, client: ApiClient, scopes: ScopeSet) -> Principal:
    return Principal(
        kind=PrincipalKind.CLIENT,
        subject_id=client.client_id,
        display_name=client.name,
        organization_id=client.organization_id,
        organization_kind=services.organizations.kind_of(client.organization_id),
        scopes=scopes,
        channel=Channel.BEARER,
    )


def _user_principal(
    services: Services, account: Account, scopes: ScopeSet, channel: Channel, csrf: str | None
) -> Principal:
    return Principal(
        kind=PrincipalKind.USER,
        subject_id=account.id,
        display_name=account.display_name,
        organization_id=account.organization_id,
        organization_kind=services.organizations.kind_of(account.organization_id),
        scopes=scopes,
        channel=channel,
        role=Role(account.role),
        practitioner_id=account.practitioner_id,
        locale=account.locale,
        csrf_token=csrf,
    )
