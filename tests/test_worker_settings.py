"""The worker's own settings (README, Configuration)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from infra.settings import Settings
from tests.conftest import TEST_JWT_SECRET, TEST_KEYS
from worker import MAX_CACHED_WORKFLOWS


def settings() -> Settings:
    return Settings(encryption_keys=TEST_KEYS, jwt_secret=TEST_JWT_SECRET)


def test_the_workflow_cache_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings().worker_max_cached_workflows == MAX_CACHED_WORKFLOWS == 500
    monkeypatch.setenv("CSPR_WORKER_MAX_CACHED_WORKFLOWS", "250")
    assert settings().worker_max_cached_workflows == 250


@pytest.mark.parametrize("value", ["-1", "many", "100001"])
def test_a_bad_workflow_cache_is_refused_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, value: str,
) -> None:
    monkeypatch.setenv("CSPR_WORKER_MAX_CACHED_WORKFLOWS", value)
    with pytest.raises(ValidationError, match="worker_max_cached_workflows"):
        settings()
