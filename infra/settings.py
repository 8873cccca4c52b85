"""One place for configuration: environment variables prefixed CSPR_."""

from __future__ import annotations

from email.headerregistry import Address
from email.utils import parseaddr
from functools import cached_property
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.differences import DifferenceTargets
from domain.mail import OverdueEscalation
from domain.procedure import PANEL_INFORMATION_TARGET_DAYS
from domain.retention import DEFAULT_SCHEDULE, RetentionSchedule
from domain.service_rules import (
    DEFAULT_MAX_CHILDREN,
    MAX_CHILDREN_LIMIT,
    ReviewerInvolvement,
    ServiceRules,
)
from infra.codec import EncryptionCodec, parse_keys

DEV_SECRET_PREFIX = "dev-"
MIN_SECRET_BYTES = 32  # HS256: no shorter than its hash (RFC 7518, 3.2)


def jwt_algorithm(public_key_pem: str) -> str:
    """RS256 for an RSA public key, ES256 for a P-256 one; ValueError naming the setting else."""
    try:
        key = serialization.load_pem_public_key(public_key_pem.encode())
    except ValueError:
        raise ValueError("CSPR_JWT_PUBLIC_KEY: not a PEM public key") from None
    if isinstance(key, rsa.RSAPublicKey) and key.key_size >= 2048:
        return "RS256"
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return "ES256"
    raise ValueError("CSPR_JWT_PUBLIC_KEY: an RSA key of 2048 bits or more, or an EC P-256 key")


def parse_origins(setting: str) -> tuple[str, ...]:
    """"scheme://host[:port]" origins, comma separated, as a browser sends them in `Origin`."""
    origins = []
    for item in setting.split(","):
        origin = item.strip().removesuffix("/")
        parts = urlsplit(origin)
        if (parts.scheme not in ("http", "https") or not parts.hostname or parts.path
                or parts.query or parts.fragment or parts.username or parts.password):
            raise ValueError(f"CSPR_UI_ORIGIN: {origin!r} is not an origin (scheme://host:port)")
        origins.append(origin)
    return tuple(origins)


def mail_from_address(setting: str) -> str:
    """The bare address of a "Name <user@domain>" setting, or "" if it has none."""
    address = parseaddr(setting)[1]
    try:
        parsed = Address(addr_spec=address)
    except (ValueError, IndexError):
        return ""
    return address if parsed.username and "." in parsed.domain else ""


class Settings(BaseSettings):
    # Errors never quote the input: it holds the keys and the token secret.
    model_config = SettingsConfigDict(env_prefix="CSPR_", frozen=True, hide_input_in_errors=True)

    environment: str = Field("development", description="development or production")
    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    # How long Temporal keeps a closed workflow's history (the namespace's retention). The case
    # store, not Temporal, is the long-term record: this only bounds what `cspr reconcile` can
    # recover after a restore. `make run` sets its dev server's namespace to it; in production the
    # namespace is created with it (deploy/temporal-namespace.sh) and the worker warns if the
    # namespace's differs. Temporal's own minimum is 1 day.
    temporal_retention_days: int = Field(30, ge=1, le=3650)
    task_queue: str = "cspr"
    # The case store: SQLite for `make run`, PostgreSQL (asyncpg) in production and CI.
    database_url: str = "sqlite+aiosqlite:///.data/cspr.db"
    # "key-id:base64-key" pairs, comma separated; the first encrypts, all decrypt (rotation).
    encryption_keys: str = Field("", repr=False)
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    # Where operators open the Temporal UI (scheme://host:port, comma separated): the only
    # origins the browser may call the API's codec server from (CORS).
    ui_origin: str = "http://localhost:8233"
    # Bearer tokens (JWT): one way to check them. A shared secret (HS256) for development; in
    # production the identity provider's public key (PEM, RS256 or ES256) or its JWKS URL.
    jwt_secret: str = Field("", repr=False)
    jwt_public_key: str = ""
    jwt_jwks_url: str = ""
    jwt_audience: str = "cspr"
    jwt_issuer: str = "cspr-dev"
    # A token lives at most this long (exp - iat): a leaked one cannot be used for years.
    jwt_max_lifetime_hours: int = Field(168, ge=1, le=24 * 366)
    # Working days each level of the differences-of-opinion ladder has (SSLs and MARS team,
    # safeguarding partners, Independent Scrutiny Officer), for a difference raised through
    # the API without its own (domain.differences.DifferenceTargets explains the defaults).
    difference_target_days: str = "5,5,10"
    # Working days the partners have to send the further information the Panel asks for: the
    # service's own target (the procedure sets no time: "must share further information with
    # the Panel as requested"), reminded and escalated like any step (procedure r5).
    panel_information_target_days: int = Field(PANEL_INFORMATION_TARGET_DAYS, ge=1, le=60)
    # The service's own rules, where a partnership could reasonably differ (issue 9, item 10;
    # domain.service_rules): the defaults are what the service has always done. Who else an
    # overdue step's e-mail goes to (the procedure's escalation ladder is for differences of
    # opinion): mars_team_and_ssls, mars_team or none.
    overdue_escalation: OverdueEscalation = OverdueEscalation.MARS_TEAM_AND_SSLS
    # A difference of opinion referred up the ladder by the service when a level's target
    # passes (the procedure has the SSLs refer it); false: the level is told, a person refers.
    difference_auto_refer: bool = True
    # A reviewer with direct involvement in the case: refuse, or consider (commissioned with
    # the consideration given recorded: Appendix 5 asks for consideration, not a refusal).
    reviewer_involvement: ReviewerInvolvement = ReviewerInvolvement.REFUSE
    # The most children one notification or request may name (the procedure sets no limit).
    max_children: int = Field(DEFAULT_MAX_CHILDREN, ge=1, le=MAX_CHILDREN_LIMIT)
    # E-mail (letters, reminders, escalations) over SMTP. The defaults reach `make run`'s mail
    # catcher; production names its relay. STARTTLS and login are used only if set.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(1025, ge=1, le=65535)
    smtp_starttls: bool = False
    smtp_username: str = ""
    smtp_password: str = Field("", repr=False)
    smtp_timeout_seconds: float = Field(30.0, gt=0, le=600)
    mail_from: str = "Children's MARS team <mars@northlincs.gov.uk>"
    # How many times one message is handed to the SMTP server before it is marked failed and
    # shown on the case for the MARS team to act on.
    mail_attempts: int = Field(5, ge=1, le=100)
    # The case file (issue 9): the largest upload taken, and an optional virus scanner, a
    # command given the file on its standard input: exit 0 clean, 1 infected, else it failed
    # (e.g. "clamdscan --no-summary -"). Off when empty.
    max_upload_bytes: int = Field(20 * 1024 * 1024, ge=1024, le=512 * 1024 * 1024)
    virus_scan_command: str = ""
    virus_scan_timeout_seconds: float = Field(60.0, gt=0, le=600)
    # The workspace's sign-in in production: OpenID Connect (authorisation code with PKCE) at the
    # authority's identity provider. The person's role and organisation come from these claims,
    # or from the partner directory by e-mail when the provider does not send them.
    oidc_issuer: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: str = Field("", repr=False)
    oidc_role_claim: str = "cspr_role"
    oidc_org_claim: str = "cspr_org"
    # The partnership (tenant) a person works for, when the provider says so; else their
    # directory organisation's; else the default partnership.
    oidc_partnership_claim: str = "cspr_partnership"
    # Where the provider sends people back; by default this service's /sign-in/oidc/callback.
    oidc_redirect_url: str = ""

    # Operations (README, Operations): log level; Prometheus metrics ports (0: not served).
    log_level: str = Field("INFO", pattern="^(DEBUG|INFO|WARNING|ERROR)$")
    metrics_host: str = "127.0.0.1"
    api_metrics_port: int = Field(0, ge=0, le=65535)
    worker_metrics_port: int = Field(0, ge=0, le=65535)
    worker_sdk_metrics_port: int = Field(0, ge=0, le=65535)
    # Workflow runs the worker keeps in memory between their tasks (README, Performance): a run
    # not kept is replayed from its history at its next task or query, which costs more the
    # longer its history. Memory grows with it, not with the number of open cases; 0 keeps none.
    worker_max_cached_workflows: int = Field(500, ge=0, le=100_000)
    # Retention (domain.retention): days each kind of record keeps its personal details after
    # the case closes (at least 365: the report is published for at least a year), then the
    # daily retention job anonymises it; idempotency records count from their request.
    retention_case_record_days: int = Field(DEFAULT_SCHEDULE.case_record_days, ge=365)
    retention_documents_days: int = Field(DEFAULT_SCHEDULE.documents_days, ge=365)
    retention_email_bodies_days: int = Field(DEFAULT_SCHEDULE.email_bodies_days, ge=365)
    retention_audit_days: int = Field(DEFAULT_SCHEDULE.audit_days, ge=365)
    retention_idempotency_days: int = Field(DEFAULT_SCHEDULE.idempotency_days, ge=1)
    # Traces over OTLP/HTTP (e.g. http://collector:4318/v1/traces); none sent if empty.
    otlp_endpoint: str = ""

    @model_validator(mode="after")
    def _keys_valid(self) -> Settings:
        if not self.encryption_keys:
            raise ValueError(
                "CSPR_ENCRYPTION_KEYS is not set: children's data is never sent to Temporal "
                "in clear (make run creates a development key in .data/)"
            )
        keys = parse_keys(self.encryption_keys)
        if self.environment == "production" and keys[0][0].startswith("dev"):
            raise ValueError("CSPR_ENCRYPTION_KEYS: a development key cannot encrypt in production")
        return self

    @model_validator(mode="after")
    def _jwt_valid(self) -> Settings:
        given = [name for name, value in (("CSPR_JWT_SECRET", self.jwt_secret),
                                          ("CSPR_JWT_PUBLIC_KEY", self.jwt_public_key),
                                          ("CSPR_JWT_JWKS_URL", self.jwt_jwks_url)) if value]
        if len(given) > 1:
            raise ValueError(f"{' and '.join(given)}: set only one way to check tokens")
        production = self.environment == "production"
        if self.jwt_secret:
            if production and self.jwt_secret.startswith(DEV_SECRET_PREFIX):
                raise ValueError("CSPR_JWT_SECRET: a development secret cannot sign tokens in "
                                 "production; set CSPR_JWT_PUBLIC_KEY or CSPR_JWT_JWKS_URL")
            if len(self.jwt_secret.encode()) < MIN_SECRET_BYTES:
                raise ValueError(f"CSPR_JWT_SECRET: at least {MIN_SECRET_BYTES} bytes")
        if self.jwt_public_key:
            jwt_algorithm(self.jwt_public_key)
        if production and self.jwt_jwks_url and not self.jwt_jwks_url.startswith("https://"):
            raise ValueError("CSPR_JWT_JWKS_URL: https only in production")
        return self

    @model_validator(mode="after")
    def _ui_origin_valid(self) -> Settings:
        parse_origins(self.ui_origin)
        return self

    @model_validator(mode="after")
    def _difference_target_days_valid(self) -> Settings:
        DifferenceTargets.parse(self.difference_target_days)
        return self

    @property
    def difference_targets(self) -> DifferenceTargets:
        return DifferenceTargets.parse(self.difference_target_days)

    @model_validator(mode="after")
    def _mail_valid(self) -> Settings:
        if not mail_from_address(self.mail_from):
            raise ValueError("CSPR_MAIL_FROM: not an e-mail address (\"Name <user@domain>\")")
        if bool(self.smtp_username) != bool(self.smtp_password):
            raise ValueError("CSPR_SMTP_USERNAME and CSPR_SMTP_PASSWORD: set both or neither")
        loopback = self.smtp_host in ("127.0.0.1", "localhost", "::1")
        if self.environment == "production" and not self.smtp_starttls and not loopback:
            # The letters attached carry children's details, and a login its password.
            raise ValueError("CSPR_SMTP_STARTTLS: mail goes to another host in production "
                             "only over STARTTLS")
        return self

    @property
    def service_rules(self) -> ServiceRules:
        """The rules a new case opens under (its workflow's input)."""
        return ServiceRules(difference_auto_refer=self.difference_auto_refer,
                            reviewer_involvement=self.reviewer_involvement,
                            max_children=self.max_children)

    @property
    def retention(self) -> RetentionSchedule:
        return RetentionSchedule(
            case_record_days=self.retention_case_record_days,
            documents_days=self.retention_documents_days,
            email_bodies_days=self.retention_email_bodies_days,
            audit_days=self.retention_audit_days,
            idempotency_days=self.retention_idempotency_days)

    @property
    def ui_origins(self) -> tuple[str, ...]:
        return parse_origins(self.ui_origin)

    def require_token_check(self) -> None:
        """The API refuses to start unless it can check tokens (the worker does not need to)."""
        if not (self.jwt_secret or self.jwt_public_key or self.jwt_jwks_url):
            raise ValueError(
                "no way to check tokens: set CSPR_JWT_PUBLIC_KEY or CSPR_JWT_JWKS_URL (or, in "
                "development, CSPR_JWT_SECRET: make run creates one in .data/)"
            )

    @cached_property
    def codec(self) -> EncryptionCodec:
        return EncryptionCodec.from_setting(self.encryption_keys)
