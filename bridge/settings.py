"""All configuration of the bridge, read from the environment (prefix ``BRIDGE_``).

One class, so that every setting is documented, typed and validated in one place. Outside demo
mode the process refuses to start with a missing or placeholder secret, because a guessable
signing key would let anyone mint tokens for any organisation.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bridge.loops.deadline_rules import DeadlineRefused, checked_overrides
from bridge.results.critical_limits import load_limits

PLACEHOLDER_SECRETS = frozenset(
    {"", "changeme", "change-me", "changethis", "change-this", "secret", "password", "placeholder", "demo"}
)
DEMO_SECRET_KEY = "demo-only-secret-key-not-for-production-use-0000"  # noqa: S105 - refused outside demo mode
MIN_SECRET_LENGTH = 32
MAX_TOKEN_LIFETIME_SECONDS = 15 * 60


class InsecureSettingsError(ValueError):
    """A secret is missing or a placeholder while demo mode is off."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BRIDGE_", env_file=None, extra="ignore")

    demo_mode: bool = Field(default=False, description="Seed and allow demo data and the demo secret key.")
    database_url: str = Field(
        default=f"sqlite:///{Path('var') / 'bridge.db'}",
        description="SQLAlchemy URL: sqlite:///path or postgresql://host:port/db.",
    )
    redis_url: str | None = Field(default=None, description="Redis for signalling and events across instances.")
    redis_channel_prefix: str = Field(
        default="nhbridge:signal:",
        min_length=1,
        max_length=64,
        description="Prefix of the Redis pub/sub channels; deployments sharing one Redis need different ones.",
    )
    public_base_url: str = Field(default="http://localhost:8000", description="URL users and peers reach.")
    secret_key: SecretStr = Field(default=SecretStr(""), description="Signs tokens; at least 32 characters.")
    token_lifetime_seconds: int = Field(default=600, ge=60, le=MAX_TOKEN_LIFETIME_SECONDS)
    principal_cache_seconds: float = Field(
        default=5.0,
        ge=0,
        le=60,
        description="How long the caller resolved from a bearer token is reused: a deactivated account or "
        "client keeps access at most this long. 0 reads the account on every request.",
    )
    session_idle_timeout_minutes: int = Field(default=15, ge=1, le=24 * 60)
    session_max_age_hours: int = Field(default=12, ge=1, le=7 * 24)
    login_max_failures: int = Field(default=5, ge=1, le=100)
    login_lockout_base_seconds: int = Field(default=60, ge=1)
    login_lockout_max_seconds: int = Field(default=30 * 60, ge=1)
    secure_cookies: bool | None = Field(
        default=None, description="Mark cookies Secure; defaults to true when the public URL is https."
    )
    fhir_max_body_bytes: int = Field(
        default=10 * 1024 * 1024, ge=1024, description="Largest FHIR request body; larger ones get 413."
    )
    fhir_max_bundle_entries: int = Field(default=1000, ge=1, description="Most entries in a batch or transaction.")
    turn_urls: list[str] = Field(default_factory=list, description="turn:/turns: URLs of coturn servers.")
    stun_urls: list[str] = Field(default_factory=list)
    turn_shared_secret: SecretStr | None = Field(default=None, description="coturn static-auth-secret.")
    turn_credential_ttl_seconds: int = Field(default=3600, ge=60, le=3600)
    reconnect_window_seconds: int = Field(
        default=60, ge=5, le=600, description="How long a consult keeps a dropped participant's place."
    )
    consult_escalate_after_seconds: int = Field(
        default=60, ge=1, description="A routine request rings every on-duty doctor after this (urgent: a third)."
    )
    consult_alert_after_seconds: int = Field(
        default=180, ge=1, description="Supervisors are alerted to a request unanswered this long (urgent: a third)."
    )
    consult_ring_timeout_seconds: int = Field(default=900, ge=10, description="An unanswered request times out.")
    consult_timer_interval_seconds: float = Field(
        default=1.0, gt=0, le=60, description="How often escalation and reconnect timers are checked."
    )
    invitation_lifetime_minutes: int = Field(default=30, ge=1, le=24 * 60)
    signal_rate_per_second: float = Field(default=50.0, gt=0, description="Signalling messages per socket.")
    signal_rate_burst: int = Field(default=200, ge=1)
    signal_heartbeat_seconds: int = Field(default=20, ge=1, le=300)
    station_arm_minutes: int = Field(default=8 * 60, ge=1, description="How long a nurse's arming of a station lasts.")
    recording_enabled: bool = Field(
        default=True, description="Record consults whose resident's consent is on record (FHIR Consent)."
    )
    recording_dir: Path = Field(default=Path("var") / "recordings", description="Where recording files are kept.")
    recording_retention_days: int = Field(
        default=1096, ge=1, description="How long a recording is kept after it ends (3 years, with a leap day)."
    )
    recording_sweep_interval_seconds: float = Field(default=3600.0, gt=0, description="Retention sweep interval.")
    recording_in_process: bool = Field(
        default=True, description="`bridge serve` runs the recorder worker; false when `bridge recorder` runs apart."
    )
    outbox_poll_seconds: float = Field(
        default=2.0, gt=0, le=300, description="How often the outbox worker looks for due deliveries."
    )
    outbox_max_attempts: int = Field(
        default=20, ge=1, le=100, description="Attempts before a delivery is marked failed (kept; retried by hand)."
    )
    outbox_timeout_seconds: float = Field(default=15.0, gt=0, le=300, description="Timeout of one outbound request.")
    outbox_backoff_base_seconds: float = Field(
        default=5.0, gt=0, description="Wait after a delivery's first failure; doubled after each next one."
    )
    outbox_backoff_max_seconds: float = Field(default=3600.0, gt=0, description="Longest wait between attempts.")
    subscription_retry_hours: float = Field(
        default=24.0,
        ge=1,
        le=24 * 14,
        description="How long notifications to a pharmacy's Subscription are retried (backoff up to "
        "outbox_backoff_max_seconds) before the Subscription shows status error; its events stay fetchable.",
    )
    subscription_allow_http: bool = Field(
        default=False, description="Accept http:// Subscription endpoints outside demo mode (tests, a local gateway)."
    )
    subscription_heartbeat_min_seconds: int = Field(
        default=60, ge=1, le=86400, description="Shortest heartbeat period a Subscription may ask for."
    )
    subscription_heartbeat_poll_seconds: float = Field(
        default=10.0, gt=0, le=3600, description="How often heartbeats that have fallen due are looked for."
    )
    mllp_port: int | None = Field(
        default=None, ge=1, le=65535, description="Port of the HL7 v2 MLLP listener `bridge serve` starts when set."
    )
    mllp_host: str = Field(default="0.0.0.0", description="Address the MLLP listener binds.")  # noqa: S104
    mllp_senders: dict[str, str] = Field(
        default_factory=dict,
        description="MLLP carries no credentials: each sending facility (MSH-4) maps to the system client "
        "it delivers as; a message from a facility not listed is refused (AR).",
    )
    hl7_max_message_bytes: int = Field(default=2 * 1024 * 1024, ge=1024, description="Largest HL7 v2 message.")
    hl7_default_encoding: str = Field(
        default="utf-8", description="Character set of HL7 messages without MSH-18 (gb18030 for many Chinese LIS)."
    )
    ecg_max_upload_bytes: int = Field(default=50 * 1024 * 1024, ge=1024, description="Largest ECG upload, all files.")
    critical_limits_file: Path | None = Field(
        default=None,
        description="JSON file extending or replacing the default critical limits (bridge/results/critical_limits.py).",
    )
    critical_ack_minutes: int = Field(
        default=10, ge=1, le=24 * 60, description="A critical-value alert unacknowledged this long goes to supervisors."
    )
    loop_deadlines: dict[str, int] = Field(
        default_factory=dict,
        description='Deadlines of the loop tracker in minutes by kind, as JSON (e.g. {"pharmacy-review": 90}); '
        "kinds and defaults in docs/loops.md. Administrators may change them later on /admin/deadlines.",
    )
    loop_join_hours: int = Field(
        default=72,
        ge=1,
        le=30 * 24,
        description="A step that names no earlier record joins the resident's loop opened within this many hours.",
    )
    log_level: str = Field(default="INFO")
    log_json: bool = Field(default=False)

    @field_validator("public_base_url")
    @classmethod
    def _strip_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("critical_limits_file")
    @classmethod
    def _sensible_critical_limits(cls, value: Path | None) -> Path | None:
        load_limits(value)  # refuses a file whose limits make no sense, naming the analyte
        return value

    @field_validator("loop_deadlines")
    @classmethod
    def _sensible_loop_deadlines(cls, value: dict[str, int]) -> dict[str, int]:
        try:
            return checked_overrides(value)
        except DeadlineRefused as refused:
            raise ValueError(f"BRIDGE_LOOP_DEADLINES: {refused.key} {refused.params}") from None

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError(f"unknown log level {value!r}")
        return level

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Self:
        if self.demo_mode:
            if not self.secret_key.get_secret_value():
                self.secret_key = SecretStr(DEMO_SECRET_KEY)
            return self
        _require_real_secret("BRIDGE_SECRET_KEY", self.secret_key)
        if self.turn_urls and self.turn_shared_secret is not None:
            _require_real_secret("BRIDGE_TURN_SHARED_SECRET", self.turn_shared_secret)
        return self

    @property
    def cookies_secure(self) -> bool:
        if self.secure_cookies is not None:
            return self.secure_cookies
        return self.public_base_url.startswith("https://")

    @property
    def token_audience(self) -> str:
        return self.public_base_url


def _require_real_secret(name: str, value: SecretStr) -> None:
    raw = value.get_secret_value()
    if raw.strip().lower() in PLACEHOLDER_SECRETS or raw == DEMO_SECRET_KEY:
        raise InsecureSettingsError(f"{name} is missing or a placeholder; set a random value (demo mode is off)")
    if len(raw) < MIN_SECRET_LENGTH:
        raise InsecureSettingsError(f"{name} must be at least {MIN_SECRET_LENGTH} characters")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
