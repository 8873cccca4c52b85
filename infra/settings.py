"""One place for configuration: environment variables prefixed CSPR_."""

from __future__ import annotations

from functools import cached_property

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from infra.codec import EncryptionCodec, parse_keys


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CSPR_", frozen=True)

    environment: str = Field("development", description="development or production")
    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    task_queue: str = "cspr"
    # The case store: SQLite for `make run`, PostgreSQL (asyncpg) in production and CI.
    database_url: str = "sqlite+aiosqlite:///.data/cspr.db"
    # "key-id:base64-key" pairs, comma separated; the first encrypts, all decrypt (rotation).
    encryption_keys: str = Field("", repr=False)
    api_host: str = "127.0.0.1"
    api_port: int = 8000

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

    @cached_property
    def codec(self) -> EncryptionCodec:
        return EncryptionCodec.from_setting(self.encryption_keys)
