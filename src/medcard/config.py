"""The one settings object: nothing else in medcard reads the environment."""

from __future__ import annotations

import hashlib
import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_home() -> Path:
    # root runs services: keep the data in the system's place rather than under /root.
    if os.geteuid() == 0:
        return Path("/var/lib/medcard")
    return Path(platformdirs.user_data_dir("medcard", appauthor=False))


class Settings(BaseSettings):
    """medcard's settings, read from ``MEDCARD_*`` environment variables (and a ``.env`` file)."""

    model_config = SettingsConfigDict(env_prefix="MEDCARD_", env_file=".env", extra="ignore")

    home: Path = Field(
        default_factory=_default_home,
        description="Data directory: the embedded PostgreSQL cluster, files, logs.",
    )
    database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL (postgresql://user:pass@host:5432/db). "
        "Unset: medcard runs its own embedded PostgreSQL in MEDCARD_HOME.",
    )
    host: str = Field(default="127.0.0.1", description="Address `medcard serve` listens on.")
    port: int = Field(default=8000, description="Port `medcard serve` listens on.")
    workers: int = Field(default=1, ge=1, description="Worker processes of `medcard serve`.")
    base_url: str | None = Field(
        default=None,
        description="Public base URL of the server (for Bundle links and Location headers); "
        "default: taken from each request.",
    )
    db_pool_min: int = Field(default=2, ge=1, description="Database connections kept open per worker.")
    db_pool_max: int = Field(default=10, ge=1, description="Most database connections per worker.")
    statement_timeout_seconds: float = Field(
        default=30.0, ge=0, description="Longest a database statement of an API request may run; the request "
        "is then stopped and answered 400 (too-costly). 0: no limit. Bulk jobs, migrations and "
        "`db rebuild-derived` are not limited.")
    durable_read_audit: bool = Field(
        default=True, description="Answer a read only once its audit row is on disk (a WAL flush per read); "
        "false: acknowledge first, and a crash or failover can lose the rows of the last 3 x wal_writer_delay "
        "(docs/security.md gives the cost and the window).")
    max_body_bytes: int = Field(
        default=16 * 1024 * 1024, ge=1024, description="Largest accepted request body, in bytes."
    )
    page_size: int = Field(default=50, ge=1, description="Default page size of Bundles.")
    max_page_size: int = Field(default=1000, ge=1, description="Cap on _count.")
    max_search_criteria: int = Field(default=20, ge=1, description="Most criteria one search may have (each "
                                     "repetition of a parameter and each part of a chained or _has parameter "
                                     "counts; also the most _include/_revinclude values and _sort keys); 400 beyond.")
    max_search_or_values: int = Field(default=100, ge=1, description="Most comma-separated (OR) values one "
                                      "search parameter may have; 400 beyond.")
    log_level: str = Field(default="info", description="Log level: debug, info, warning, error.")
    job_workers: int = Field(default=1, ge=0, description="Background job workers `medcard serve` starts "
                             "(bulk import and export); 0 to run them elsewhere with `medcard worker`.")
    import_dir: Path | None = Field(default=None, description="Folder whose files $import may read by "
                                    "file:// URL; unset: $import takes only uploaded NDJSON.")
    import_max_bytes: int = Field(default=10 * 1024**3, ge=1024, description="Largest NDJSON upload to $import.")
    # access: accounts, sessions, tokens
    secret_key: str | None = Field(default=None, description="Key for encrypting second-factor secrets and "
                                   "signing; unset: a random key kept in MEDCARD_HOME/secret.key.")
    token_minutes: int = Field(default=60, ge=1, description="Lifetime of API access tokens.")
    token_cache_seconds: float = Field(default=5.0, ge=0, description="How long a server process trusts a token "
                                       "it has looked up (revoking a token, a client or an account takes effect "
                                       "within this time); 0 looks every token up on every request.")
    session_idle_minutes: int = Field(default=30, ge=1, description="A session ends after this much inactivity.")
    session_max_hours: int = Field(default=12, ge=1, description="A session ends this long after sign-in.")
    second_factor_roles: str = Field(
        default="pediatrician,nurse,specialist,registrar,archivist,clinic-admin,city-admin",
        description="Comma-separated staff roles that must use a TOTP second factor.")
    login_attempts: int = Field(default=5, ge=1, description="Failed sign-ins before an account is locked.")
    lockout_minutes: int = Field(default=15, ge=1, description="How long a locked account stays locked.")
    login_rate_per_address: int = Field(default=20, ge=1, description="Sign-in attempts per minute from one "
                                        "client address.")
    refresh_token_days: int = Field(default=30, ge=1, description="Lifetime of refresh tokens (offline_access).")
    tls_terminated: bool = Field(default=False, description="TLS is terminated in front of medcard (a proxy): "
                                 "send HSTS on every response.")
    api_rate_per_minute: int = Field(default=6000, ge=1, description="Requests a minute of each person: through "
                                     "each app registered without a limit of its own (counted across processes), "
                                     "and on a session of medcard's pages or without a live token (per process).")
    api_rate_backend_per_minute: int = Field(default=60_000, ge=0, description="Requests a minute of each backend "
                                             "service registered without a limit of its own, counted across "
                                             "processes; 0: unlimited.")
    secure_cookies: bool = Field(default=True, description="Mark cookies Secure (set false only for plain-HTTP "
                                 "development on localhost).")
    oidc_issuer: str | None = Field(default=None, description="OpenID Connect provider whose verified users get "
                                    "full family accounts (the city portal in production).")
    oidc_client_id: str | None = Field(default=None, description="medcard's client id at the OIDC provider.")
    oidc_client_secret: str | None = Field(default=None, description="medcard's client secret at the provider.")
    # documents: where files (PDFs, record archives) are kept
    blob_store: Literal["directory", "s3"] = Field(
        default="directory", description="Where files (PDFs, record archives) are kept: `directory` (under "
        "MEDCARD_BLOB_DIR) or `s3` (S3-compatible object storage, for several servers).")
    blob_dir: Path | None = Field(default=None, description="The blob directory; default MEDCARD_HOME/blobs.")
    s3_endpoint_url: str | None = Field(default=None, description="URL of the S3-compatible storage "
                                        "(unset: Amazon S3 itself).")
    s3_bucket: str | None = Field(default=None, description="Bucket of the blob store (it must exist).")
    s3_prefix: str = Field(default="", description="Prefix of the blob store's object names in the bucket.")
    s3_region: str = Field(default="us-east-1", description="Region of the S3 storage.")
    s3_access_key_id: str | None = Field(default=None, description="Access key of the S3 storage (unset: "
                                         "boto3's own lookup: environment, instance role).")
    s3_secret_access_key: str | None = Field(default=None, description="Secret key of the S3 storage.")

    # notifications to families
    smtp_host: str | None = Field(default=None, description="Mail server for notifications and sign-up codes; "
                                  "unset: messages are written to MEDCARD_HOME/outbox/ (the demo).")
    smtp_port: int = Field(default=587, ge=1, le=65535, description="Port of the mail server.")
    smtp_starttls: bool = Field(default=True, description="Use STARTTLS with the mail server.")
    smtp_username: str | None = Field(default=None, description="Login at the mail server, if it needs one.")
    smtp_password: str | None = Field(default=None, description="Password at the mail server.")
    mail_sender: str = Field(default="medcard <no-reply@medcard.invalid>", description="From: of the messages.")
    visit_draft_days: int = Field(default=30, ge=1, description="How long an unsaved visit form's draft is kept "
                                  "after its last change: older drafts are not offered and the worker deletes them.")
    notify_interval_seconds: float = Field(default=30.0, gt=0, description="How often the background worker "
                                           "looks for new events and sends queued notifications.")

    @property
    def pgdata(self) -> Path:
        """Where the embedded PostgreSQL cluster lives."""
        return self.home / "pgdata"

    def secret(self) -> bytes:
        """The 32-byte server key: from MEDCARD_SECRET_KEY, or a random one kept in MEDCARD_HOME."""
        if self.secret_key:
            return hashlib.sha256(self.secret_key.encode()).digest()
        path = self.home / "secret.key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(secrets.token_bytes(32))
        return path.read_bytes()

    def roles_needing_second_factor(self) -> frozenset[str]:
        return frozenset(r.strip() for r in self.second_factor_roles.split(",") if r.strip())

    @property
    def bulk_dir(self) -> Path:
        """Where bulk export files and $import uploads are kept (shared storage when several servers run)."""
        return self.home / "bulk"


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()


def export_database_url(url: str) -> None:
    """Hand the database URL to child processes (``serve --workers N``) through their environment."""
    os.environ["MEDCARD_DATABASE_URL"] = url
    get_settings.cache_clear()
