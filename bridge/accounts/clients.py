"""System clients (pharmacy and hospital systems, bedside stations) for the client_credentials grant."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge.accounts.passwords import hash_password, verify_password
from bridge.accounts.throttle import LoginThrottler
from bridge.auth.scopes import ScopeError, ScopeSet
from bridge.db.tables import ApiClient
from bridge.directory.organizations import OrganizationDirectory
from bridge.errors import FieldError, InvalidInput, NotFound
from bridge.sealing import seal

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class IssuedClient:
    client: ApiClient
    client_secret: str  # shown once; kept as a hash (to check it) and sealed (to sign notifications with it)


class ClientService:
    def __init__(
        self,
        session: Session,
        organizations: OrganizationDirectory,
        throttler: LoginThrottler,
        secret_key: str | None = None,
    ) -> None:
        self._session = session
        self._organizations = organizations
        self._throttler = throttler
        self._secret_key = secret_key  # BRIDGE_SECRET_KEY, to seal client secrets; None keeps only hashes

    def create(self, name: str, organization: str, scope: str, now: datetime) -> IssuedClient:
        errors: list[FieldError] = []
        if not name.strip():
            errors.append(FieldError("name", "field.required"))
        org = None
        try:
            org = self._organizations.resolve(organization.strip())
        except NotFound:
            errors.append(FieldError("organization", "field.organization_unknown"))
        scopes = None
        try:
            scopes = ScopeSet.parse(scope)
            if not scopes.scopes or scopes.contexts() != {"system"}:
                errors.append(FieldError("scope", "field.scope_system_only"))
        except ScopeError:
            errors.append(FieldError("scope", "field.scope_invalid"))
        if errors:
            raise InvalidInput(errors)
        assert org is not None and scopes is not None
        secret = secrets.token_urlsafe(32)
        client = ApiClient(
            client_id=f"c-{secrets.token_hex(8)}",
            name=name.strip(),
            secret_hash=hash_password(secret),
            secret_sealed=self._sealed(secret),
            organization_id=org["id"],
            scopes=str(scopes),
            active=True,
            created_at=now,
        )
        self._session.add(client)
        self._session.flush()
        logger.info("client %s (%s) created for organization %s", client.client_id, client.name, org["id"])
        return IssuedClient(client, secret)

    def rotate_secret(self, client_id: str) -> IssuedClient:
        """A new secret for an existing client (the old one stops working at once)."""
        client = self._session.get(ApiClient, client_id)
        if client is None:
            raise NotFound()
        secret = secrets.token_urlsafe(32)
        client.secret_hash = hash_password(secret)
        client.secret_sealed = self._sealed(secret)
        self._session.flush()
        logger.info("client %s was issued a new secret", client_id)
        return IssuedClient(client, secret)

    def _sealed(self, secret: str) -> str | None:
        # Sealed, not only hashed: notifications to the client are signed (HMAC) with the secret it holds.
        return seal(self._secret_key, "client-secret", secret.encode()) if self._secret_key else None

    def authenticate(self, client_id: str, client_secret: str, now: datetime) -> ApiClient | None:
        if self._throttler.locked_until(f"client:{client_id}", now) is not None:
            logger.warning("client %r is locked out after repeated failures", client_id)
            return None
        client = self._session.get(ApiClient, client_id)
        valid = verify_password(client.secret_hash if client else None, client_secret)
        if client is None or not valid or not client.active:
            self._throttler.record_failure(f"client:{client_id}", now)
            logger.warning("client authentication failed for %r", client_id)
            return None
        self._throttler.record_success(f"client:{client_id}")
        return client

    def get(self, client_id: str) -> ApiClient | None:
        return self._session.get(ApiClient, client_id)

    def list_for(self, organization_ids: set[str] | None) -> list[ApiClient]:
        query = select(ApiClient).order_by(ApiClient.organization_id, ApiClient.name)
        if organization_ids is not None:
            query = query.where(ApiClient.organization_id.in_(sorted(organization_ids)))
        return list(self._session.scalars(query))
