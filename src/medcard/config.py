"""The one settings object: nothing else in medcard reads the environment."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

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
    max_body_bytes: int = Field(
        default=16 * 1024 * 1024, ge=1024, description="Largest accepted request body, in bytes."
    )
    page_size: int = Field(default=50, ge=1, description="Default page size of Bundles.")
    max_page_size: int = Field(default=1000, ge=1, description="Cap on _count.")
    log_level: str = Field(default="info", description="Log level: debug, info, warning, error.")
    job_workers: int = Field(default=1, ge=0, description="Background job workers `medcard serve` starts "
                             "(bulk import and export); 0 to run them elsewhere with `medcard worker`.")
    import_dir: Path | None = Field(default=None, description="Folder whose files $import may read by "
                                    "file:// URL; unset: $import takes only uploaded NDJSON.")
    import_max_bytes: int = Field(default=10 * 1024**3, ge=1024, description="Largest NDJSON upload to $import.")

    @property
    def pgdata(self) -> Path:
        """Where the embedded PostgreSQL cluster lives."""
        return self.home / "pgdata"

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
