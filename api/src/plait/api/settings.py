"""Settings from ``PLAIT_*`` environment variables (ARCHITECTURE.md §2).

Every embedded default keeps its files under ``PLAIT_DATA_DIR`` (default ``./.plait``):
the SQLite database, blobs, the generated secret key.
"""

from __future__ import annotations

import os
import secrets
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_SECRET_KEY_CHARS = 32


class SettingsError(Exception):
    """A missing or bad setting; the message is one line that says what to fix."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PLAIT_", extra="ignore", frozen=True)

    data_dir: Path = Path(".plait")
    database_url: str | None = None
    redis_url: str | None = None
    # Every Redis key and channel of this installation starts with it (several installs,
    # or tests, can share one Redis).
    redis_prefix: str = Field("plait:", min_length=1, max_length=100)
    blob_store: str | None = None
    qdrant_url: str | None = None
    base_domain: str = "localhost"
    secret_key: str | None = Field(None, repr=False)
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    router_port: int = Field(8080, ge=0, le=65535)
    public_url: str | None = None
    allow_private_networks: bool = False
    max_body_bytes: int = Field(10 * 1024 * 1024, ge=1024)
    max_flow_bytes: int = Field(4 * 1024 * 1024, ge=1024)
    session_days: int = Field(14, ge=1, le=365)
    run_workers: int = Field(8, ge=1, le=256)
    # Scale-out (docs/scale.md). "local": runs execute in the process that accepts them
    # (the embedded default); "bullmq": they go to `plait worker` processes over Redis.
    queue: Literal["local", "bullmq"] = "local"
    # A worker holds a job's lock for this long and renews it at half of it; a job whose
    # worker died is found stalled within `queue_stalled_interval_s` of the lock running out
    # and handed to another worker (so at most lock + interval, 30 s by default).
    queue_lock_s: float = Field(20.0, ge=1.0, le=3600.0)
    queue_stalled_interval_s: float = Field(10.0, ge=1.0, le=3600.0)
    # How often the reconciler compares the database's active runs with the queue's jobs.
    queue_reconcile_s: float = Field(15.0, ge=1.0, le=3600.0)
    # The scheduler (inside `plait serve`, or `plait scheduler`): how often it looks for due
    # firings, and how many missed firings a schedule set to catch up may start at most.
    scheduler_tick_s: float = Field(1.0, ge=0.05, le=60.0)
    scheduler_catch_up_max: int = Field(10, ge=0, le=1000)

    @field_validator("secret_key")
    @classmethod
    def _long_enough(cls, value: str | None) -> str | None:
        if value is not None and len(value) < MIN_SECRET_KEY_CHARS:
            raise ValueError(f"must be at least {MIN_SECRET_KEY_CHARS} characters")
        return value

    @model_validator(mode="after")
    def _queue_needs_redis(self) -> Settings:
        if self.queue == "bullmq" and not self.redis_url:
            raise ValueError("PLAIT_QUEUE=bullmq needs PLAIT_REDIS_URL (redis://host:6379/0)")
        return self

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("sqlite", "postgresql")):
            raise ValueError("must be a sqlite:/// or postgresql:// URL")
        return value

    @property
    def db_url(self) -> str:
        """The database URL; SQLite in the data dir by default."""
        if self.database_url:
            url = self.database_url
            if url.startswith("postgresql://"):
                url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
            return url
        return f"sqlite:///{(self.data_dir / 'plait.db').resolve()}"

    @property
    def blobs_dir(self) -> Path:
        if self.blob_store and self.blob_store.startswith("file://"):
            return Path(self.blob_store.removeprefix("file://"))
        return self.data_dir / "blobs"

    @property
    def base_url(self) -> str:
        return self.public_url or f"http://{_display_host(self.host)}:{self.port}"

    @cached_property
    def master_key(self) -> bytes:
        """The root secret keys are derived from: ``PLAIT_SECRET_KEY``, or a key generated
        once into the data dir."""
        if self.secret_key:
            return self.secret_key.encode()
        path = self.data_dir / "secret.key"
        if path.exists():
            return path.read_bytes().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48).encode()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key + b"\n")
        return key


def _display_host(host: str) -> str:
    return "localhost" if host in ("127.0.0.1", "0.0.0.0", "::", "::1") else host


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment; ``SettingsError`` names the first bad one."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        err = exc.errors()[0]
        message = str(err["msg"]).removeprefix("Value error, ")
        if not err["loc"]:  # a rule across settings names them itself
            raise SettingsError(f"bad settings: {message}") from None
        name = "PLAIT_" + str(err["loc"][0]).upper()
        raise SettingsError(f"bad setting {name}: {message}") from None
