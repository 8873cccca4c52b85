"""The production recipe (docker-compose.yml, Dockerfile, deploy/) agrees with the code: settings,
search attributes, ports, packages. No Docker engine is needed: the files are read as data, the
two scripts run against the Temporal dev server, and `docker compose config` runs when a
Compose v2+ CLI is installed."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from google.protobuf.duration_pb2 import Duration
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from infra.binaries import temporal_cli
from infra.codec import new_key_setting
from infra.settings import Settings
from workflows import search_attributes

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / "deploy" / ".env.example"
REGISTER_SCRIPT = ROOT / "deploy" / "register-search-attributes.sh"
SCHEMA_SCRIPT = ROOT / "deploy" / "temporal-schema.sh"
NAMESPACE_SCRIPT = ROOT / "deploy" / "temporal-namespace.sh"
PROMETHEUS_CONFIG = ROOT / "deploy" / "prometheus" / "compose.yml"
WORKER_HEALTHCHECK = ROOT / "deploy" / "worker_healthcheck.py"

APP_IMAGE = "cspr"
ONE_SHOT = {"temporal-schema", "temporal-namespace", "temporal-register", "migrate"}
# Never in the file itself, and never with a fallback value.
SECRETS = {"POSTGRES_PASSWORD", "TEMPORAL_DB_PASSWORD", "CSPR_ENCRYPTION_KEYS",
           "CSPR_SMTP_PASSWORD"}
SECRET_NAME = re.compile(r"PASSWORD|PWD|SECRET|KEYS")
REQUIRED = re.compile(r"^\$\{(?P<name>[A-Z][A-Z0-9_]*):\?[^}]+\}$")
VARIABLE = re.compile(r"\$\{(?P<name>[A-Z][A-Z0-9_]*)(?P<rest>[^}]*)\}")
PINNED = re.compile(r"^[a-z0-9][a-z0-9._/-]*:(?P<tag>v?\d+(\.\d+)+[A-Za-z0-9._-]*)$")

Service = dict[str, Any]


def _compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(loaded, dict)
    return loaded


def _services() -> dict[str, Service]:
    services = _compose()["services"]
    assert isinstance(services, dict)
    return services


def _env(service: Service) -> dict[str, str]:
    environment = service.get("environment", {})
    assert isinstance(environment, dict), "environment as a mapping, so merges stay readable"
    return {str(k): "" if v is None else str(v) for k, v in environment.items()}


def _app_services() -> dict[str, Service]:
    return {name: s for name, s in _services().items()
            if str(s["image"]).split(":")[0] == APP_IMAGE}


def _strings(node: object) -> list[str]:
    """Every string value in the compose file (what compose interpolates; not its comments)."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for value in node.values() for s in _strings(value)]
    if isinstance(node, list):
        return [s for item in node for s in _strings(item)]
    return []


def _variables() -> list[re.Match[str]]:
    return [m for text in _strings(_compose()) for m in VARIABLE.finditer(text)]


def _pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _setting_default(name: str) -> Any:
    return Settings.model_fields[name].default


def _port(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


def _container_ports(service: Service) -> set[int]:
    """The container side of each `ports:` entry ("[ip:]host:container")."""
    return {int(str(p).rsplit(":", 1)[1]) for p in service.get("ports", [])}


# --- The compose file, as data ----------------------------------------------------------------


def test_every_image_is_pinned_to_a_version() -> None:
    for name, service in _services().items():
        image = str(service["image"])
        match = PINNED.match(image)
        assert match, f"{name}: {image!r} is not pinned to a version tag"
        assert "latest" not in match["tag"], f"{name}: {image!r}"


def test_the_app_image_is_built_here_and_tagged_with_the_project_version() -> None:
    version = _pyproject()["project"]["version"]
    apps = _app_services()
    assert set(apps) == {"migrate", "worker", "api"}
    for name, service in apps.items():
        assert service["image"] == f"{APP_IMAGE}:{version}", name
        assert service["build"] == ".", name


def test_long_running_services_have_healthchecks_and_one_shots_do_not_restart() -> None:
    for name, service in _services().items():
        if name in ONE_SHOT:
            assert service["restart"] == "no", name
            continue
        healthcheck = service.get("healthcheck", {})
        assert healthcheck.get("test"), name
        assert not healthcheck.get("disable"), name
        assert service["restart"] == "unless-stopped", name


def test_services_wait_for_what_they_need() -> None:
    services = _services()
    healthy, completed = "service_healthy", "service_completed_successfully"
    after_setup = {"temporal": healthy, "temporal-register": completed, "migrate": completed}
    expected = {
        "postgresql": {},
        "temporal-schema": {"postgresql": healthy},
        "temporal": {"temporal-schema": completed},
        "temporal-namespace": {"temporal": healthy},
        "temporal-register": {"temporal-namespace": completed},
        "temporal-ui": {"temporal": healthy},
        "migrate": {"postgresql": healthy},
        "worker": after_setup,
        "api": after_setup,
        "prometheus": {"worker": healthy, "api": healthy},
    }
    actual = {name: {dep: spec["condition"] for dep, spec in s.get("depends_on", {}).items()}
              for name, s in services.items()}
    assert actual == expected
    for name, deps in actual.items():
        for dep, condition in deps.items():
            if condition == healthy:
                assert "healthcheck" in services[dep], f"{name} waits for {dep} to be healthy"
            else:
                assert dep in ONE_SHOT, f"{name} waits for {dep} to complete"


def test_app_services_set_only_settings_that_exist() -> None:
    known = {f"CSPR_{name.upper()}" for name in Settings.model_fields}
    for name, service in _app_services().items():
        unknown = set(_env(service)) - known
        assert not unknown, f"{name}: {sorted(unknown)} are not fields of infra.settings.Settings"


def test_app_services_are_configured_for_production() -> None:
    services = _services()
    shared = {"CSPR_ENVIRONMENT", "CSPR_TEMPORAL_ADDRESS", "CSPR_TEMPORAL_NAMESPACE",
              "CSPR_DATABASE_URL", "CSPR_ENCRYPTION_KEYS"}
    tokens = {"CSPR_JWT_JWKS_URL", "CSPR_JWT_PUBLIC_KEY", "CSPR_JWT_AUDIENCE", "CSPR_JWT_ISSUER"}
    # The worker alone sends e-mail: through the relay, with STARTTLS and a login.
    mail = {"CSPR_SMTP_HOST", "CSPR_SMTP_PORT", "CSPR_SMTP_STARTTLS", "CSPR_SMTP_USERNAME",
            "CSPR_SMTP_PASSWORD", "CSPR_MAIL_FROM"}
    metrics = {"CSPR_METRICS_HOST"}
    assert set(_env(services["worker"])) == shared | mail | metrics | {
        "CSPR_TEMPORAL_RETENTION_DAYS", "CSPR_WORKER_METRICS_PORT", "CSPR_WORKER_SDK_METRICS_PORT"}
    assert _env(services["worker"])["CSPR_SMTP_STARTTLS"] == "true"
    # The API alone checks tokens, always with the identity provider's key: a shared secret
    # (CSPR_JWT_SECRET) is for development.
    # ... and answers the Temporal UI's browser, from the UI's origin only (the codec server).
    assert set(_env(services["api"])) == shared | tokens | metrics | {
        "CSPR_UI_ORIGIN", "CSPR_API_METRICS_PORT"}
    ui = _env(services["temporal-ui"])
    assert _env(services["api"])["CSPR_UI_ORIGIN"] == ui["TEMPORAL_CORS_ORIGINS"]
    assert ui["TEMPORAL_CODEC_INCLUDE_CREDENTIALS"] == "true"
    # The migrations need the database and nothing else: not the encryption keys.
    assert set(_env(services["migrate"])) == {"CSPR_DATABASE_URL"}
    for name in ("worker", "api"):
        assert _env(services[name])["CSPR_ENVIRONMENT"] == "production"
    urls = {_env(services[name])["CSPR_DATABASE_URL"] for name in ("migrate", "worker", "api")}
    assert len(urls) == 1
    assert urls.pop().startswith("postgresql+asyncpg://cspr:${POSTGRES_PASSWORD:?")


# What an operator puts in .env for each required variable (deploy/.env.example).
OPERATOR_VALUES = {
    "POSTGRES_PASSWORD": "p4ssw0rd", "TEMPORAL_DB_PASSWORD": "t3mp0ral",
    "CSPR_ENCRYPTION_KEYS": new_key_setting("prod-1"), "CSPR_SMTP_PASSWORD": "s3cret",
    "CSPR_SMTP_HOST": "smtp.example.org", "CSPR_SMTP_USERNAME": "cspr",
    "CSPR_MAIL_FROM": "MARS team <mars@example.org>", "CSPR_JWT_AUDIENCE": "cspr",
    "CSPR_JWT_ISSUER": "https://idp.example.org",
    "CSPR_JWT_JWKS_URL": "https://idp.example.org/.well-known/jwks.json",
}


def _interpolated(value: str) -> str:
    """A compose value as compose gives it, with the operator's .env above."""
    def one(match: re.Match[str]) -> str:
        name, rest = match["name"], match["rest"]
        if name in OPERATOR_VALUES:
            return OPERATOR_VALUES[name]
        assert rest.startswith(":-"), f"{name} is required but has no operator value here"
        return rest[2:]
    return VARIABLE.sub(one, value)


@pytest.mark.parametrize("name", ["worker", "api", "migrate"])
def test_each_app_service_gets_valid_production_settings(
    name: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every setting the service's code reads (infra/settings.py) comes out of the compose
    environment valid: production checks passed, the worker's metrics served, the API's
    tokens checkable with the identity provider's keys."""
    for key in list(os.environ):
        if key.startswith("CSPR_"):
            monkeypatch.delenv(key)
    env = {key: _interpolated(value) for key, value in _env(_services()[name]).items()}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    if name == "migrate":  # alembic reads the URL alone (store/migrations/env.py)
        assert env["CSPR_DATABASE_URL"].startswith("postgresql+asyncpg://cspr:p4ssw0rd@")
        return
    settings = Settings()
    assert settings.environment == "production"
    assert settings.temporal_address == "temporal:7233"
    assert settings.database_url == ("postgresql+asyncpg://cspr:p4ssw0rd@postgresql:5432/cspr")
    if name == "worker":
        assert settings.smtp_starttls
        assert (settings.worker_metrics_port, settings.worker_sdk_metrics_port) == (9465, 9466)
        assert settings.temporal_retention_days == _setting_default("temporal_retention_days")
    else:
        settings.require_token_check()  # one of the identity provider's keys is set
        assert settings.api_metrics_port == 9464
    assert settings.metrics_host == "0.0.0.0"


def test_secrets_come_only_from_the_environment_and_are_required() -> None:
    referenced = {m["name"] for m in _variables()}
    assert referenced >= SECRETS
    for match in _variables():
        if match["name"] in SECRETS:
            assert match["rest"].startswith(":?"), f"{match[0]}: no default for a secret"
            assert match["rest"][2:], f"{match[0]}: say what to set"
    for name, service in _services().items():
        for key, value in _env(service).items():
            if SECRET_NAME.search(key):
                assert REQUIRED.match(value), f"{name}: {key} must be ${{VAR:?message}}"


def test_the_env_example_documents_every_variable_and_holds_no_secret() -> None:
    defined: dict[str, str] = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            defined[key] = value
    referenced = {m["name"] for m in _variables()}
    assert set(defined) == referenced
    for name in SECRETS:
        assert defined[name] == "", f"{name} has a value in {ENV_EXAMPLE.name}"
    # Where compose has a default, the example shows the same one.
    for match in _variables():
        if match["rest"].startswith(":-") and match["rest"][2:]:
            assert defined[match["name"]] == match["rest"][2:], match["name"]


def test_the_registered_search_attributes_are_the_workflows_ones() -> None:
    register = _services()["temporal-register"]
    env = _env(register)
    registered = dict(item.split("=", 1) for item in env["SEARCH_ATTRIBUTES"].split())
    # The CLI's type names: KEYWORD_LIST -> KeywordList, DATETIME -> Datetime, ...
    expected = {
        key.name: "".join(p.capitalize() for p in key.indexed_value_type.name.split("_"))
        for key in search_attributes.ALL
    }
    assert registered == expected
    assert env["TEMPORAL_ADDRESS"] == _env(_services()["api"])["CSPR_TEMPORAL_ADDRESS"]
    assert register["entrypoint"] == ["sh", "/deploy/register-search-attributes.sh"]


def test_ports_and_addresses_agree_with_the_settings() -> None:
    services = _services()
    api_port = _setting_default("api_port")
    temporal_port = _port(_setting_default("temporal_address"))
    assert _container_ports(services["api"]) == {api_port}
    assert f"http://localhost:{api_port}/readyz" in " ".join(services["api"]["healthcheck"]["test"])
    assert _container_ports(services["temporal"]) == {temporal_port}
    assert _container_ports(services["temporal-ui"]) == {8080}
    for name in ("worker", "api"):
        assert _env(services[name])["CSPR_TEMPORAL_ADDRESS"] == f"temporal:{temporal_port}"
        assert _env(services[name])["CSPR_TEMPORAL_NAMESPACE"] == (
            f"${{CSPR_TEMPORAL_NAMESPACE:-{_setting_default('temporal_namespace')}}}")
    ui = _env(services["temporal-ui"])
    assert ui["TEMPORAL_ADDRESS"] == f"temporal:{temporal_port}"
    assert ui["TEMPORAL_CODEC_ENDPOINT"].endswith(f"http://localhost:{api_port}/v1/codec}}")
    assert _dockerfile().cmd[-2:] == ["--port", str(api_port)]


def test_bind_mounts_are_files_of_this_repository() -> None:
    for name, service in _services().items():
        for volume in service.get("volumes", []):
            source = str(volume).split(":", 1)[0]
            if source.startswith("./"):
                assert (ROOT / source).is_file(), f"{name}: {source} does not exist"


def test_temporal_runs_its_own_server_image_with_the_schema_set_up_by_its_own_tool() -> None:
    services = _services()
    assert not any("auto-setup" in str(s["image"]) for s in services.values())
    server = str(services["temporal"]["image"])
    assert server.startswith("temporalio/server:")
    version = server.split(":")[1]
    # The admin tools (temporal-sql-tool, the schema files, the CLI) of the same release.
    for name in ("temporal-schema", "temporal-namespace", "temporal-register"):
        assert str(services[name]["image"]).startswith(f"temporalio/admin-tools:{version}-"), name
    assert services["temporal-schema"]["entrypoint"] == ["sh", "/deploy/temporal-schema.sh"]
    assert services["temporal-namespace"]["entrypoint"] == ["sh", "/deploy/temporal-namespace.sh"]
    temporal, schema = _env(services["temporal"]), _env(services["temporal-schema"])
    assert not [k for k in temporal if k.startswith("SKIP_") or k.startswith("DEFAULT_NAMESPACE")]
    # The schema goes into the databases and with the role the server uses.
    assert schema["SQL_PLUGIN"] == temporal["DB"] == "postgres12"
    assert (schema["SQL_HOST"], schema["SQL_PORT"]) == (temporal["POSTGRES_SEEDS"],
                                                        temporal["DB_PORT"])
    assert schema["SQL_USER"] == temporal["POSTGRES_USER"]
    assert schema["SQL_PASSWORD"] == temporal["POSTGRES_PWD"]
    assert (schema["DBNAME"], schema["VISIBILITY_DBNAME"]) == (temporal["DBNAME"],
                                                               temporal["VISIBILITY_DBNAME"])
    init = (ROOT / "deploy" / "postgres-init.sh").read_text()
    assert f"CREATE ROLE {temporal['POSTGRES_USER']} LOGIN CREATEDB" in init
    assert "CREATE DATABASE" not in init, "temporal-sql-tool creates Temporal's databases"


def test_the_namespace_gets_the_retention_the_workers_expect() -> None:
    services = _services()
    default = _setting_default("temporal_retention_days")
    expected = f"${{CSPR_TEMPORAL_RETENTION_DAYS:-{default}}}"
    assert _env(services["temporal-namespace"])["TEMPORAL_RETENTION_DAYS"] == expected
    assert _env(services["worker"])["CSPR_TEMPORAL_RETENTION_DAYS"] == expected
    assert (_env(services["temporal-namespace"])["TEMPORAL_NAMESPACE"]
            == _env(services["worker"])["CSPR_TEMPORAL_NAMESPACE"])


def test_two_workers_and_two_apis_each_scraped_by_prometheus() -> None:
    services = _services()
    for name in ("worker", "api"):
        assert services[name]["deploy"]["replicas"] == 2, name
    # One host port for each API replica (a single fixed port would stop the second).
    (published,) = services["api"]["ports"]
    host, container = str(published).rsplit(":", 1)
    first, last = (int(port) for port in host.split(":")[-1].split("-"))
    assert last - first + 1 == services["api"]["deploy"]["replicas"]
    assert int(container) == _setting_default("api_port")
    # Prometheus finds every replica by the service's name, on the port its settings serve.
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    expected = {"cspr-api": ("api", "CSPR_API_METRICS_PORT"),
                "cspr-worker": ("worker", "CSPR_WORKER_METRICS_PORT"),
                "cspr-worker-sdk": ("worker", "CSPR_WORKER_SDK_METRICS_PORT")}
    for job, (service, setting) in expected.items():
        (discovery,) = jobs[job]["dns_sd_configs"]
        assert discovery["names"] == [service], job
        assert str(discovery["port"]) == _env(services[service])[setting], job
        assert _env(services[service])["CSPR_METRICS_HOST"] == "0.0.0.0", job
    # The same job names as make run's configuration: the rules and the dashboard use them.
    make_run = yaml.safe_load((PROMETHEUS_CONFIG.parent / "prometheus.yml").read_text())
    assert {job["job_name"] for job in make_run["scrape_configs"]} <= set(jobs)
    temporal_metrics = _env(services["temporal"])["PROMETHEUS_ENDPOINT"]
    assert jobs["temporal-server"]["static_configs"][0]["targets"] == [
        f"temporal:{_port(temporal_metrics)}"]
    mounted = {str(v).split(":")[0] for v in services["prometheus"]["volumes"]}
    assert {"./deploy/prometheus/compose.yml", "./deploy/prometheus/cspr.rules.yml"} <= mounted
    assert "--config.file=/etc/prometheus/compose.yml" in services["prometheus"]["command"]


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_promtool_accepts_the_compose_prometheus_config() -> None:
    done = subprocess.run(["promtool", "check", "config", PROMETHEUS_CONFIG.name],
                          cwd=PROMETHEUS_CONFIG.parent, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def _fake_sql_tool(tmp_path: Path, behaviour: str) -> tuple[dict[str, str], Path]:
    """A temporal-sql-tool that logs its arguments and answers as `behaviour` says:
    "new" (everything succeeds), "again" (the database and version tables exist), "down"."""
    calls = tmp_path / "calls"
    tool = tmp_path / "temporal-sql-tool"
    tool.write_text(
        "#!/bin/sh\n"
        f'echo "$SQL_PASSWORD|$*" >> "{calls}"\n'
        f'case "{behaviour}|$*" in\n'
        '  down*) echo "dial tcp: connection refused" >&2; exit 1 ;;\n'
        '  again*create-database*) echo "pq: database \\"x\\" already exists" >&2; exit 1 ;;\n'
        '  again*setup-schema*) echo "pq: relation \\"schema_version\\" already exists" >&2;'
        " exit 1 ;;\n"
        "esac\n"
        "exit 0\n")
    tool.chmod(0o755)
    env = {"PATH": f"{tmp_path}{os.pathsep}{os.environ.get('PATH', '')}",
           **_env(_services()["temporal-schema"]), "SQL_PASSWORD": "pw"}
    return env, calls


@pytest.mark.parametrize("behaviour", ["new", "again"])
def test_the_schema_script_creates_sets_up_and_updates_both_databases(
    tmp_path: Path, behaviour: str,
) -> None:
    env, calls = _fake_sql_tool(tmp_path, behaviour)
    done = subprocess.run(["sh", str(SCHEMA_SCRIPT)], env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = calls.read_text().splitlines()
    assert all(line.startswith("pw|--plugin postgres12 --endpoint postgresql --port 5432 "
                               "--user temporal ") for line in lines), lines
    steps = [line.split(" --database ", 1)[1] for line in lines]
    root = "/etc/temporal/schema/postgresql/v12"
    assert steps == [
        "temporal create-database", "temporal setup-schema -v 0.0",
        f"temporal update-schema --schema-dir {root}/temporal/versioned",
        "temporal_visibility create-database", "temporal_visibility setup-schema -v 0.0",
        f"temporal_visibility update-schema --schema-dir {root}/visibility/versioned",
    ]
    if behaviour == "again":
        assert "already there" in done.stdout


def test_the_schema_script_stops_at_the_first_real_failure(tmp_path: Path) -> None:
    env, calls = _fake_sql_tool(tmp_path, "down")
    done = subprocess.run(["sh", str(SCHEMA_SCRIPT)], env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode != 0
    assert "connection refused" in done.stderr
    assert len(calls.read_text().splitlines()) == 1
    # A password left out stops it before anything runs.
    done = subprocess.run(["sh", str(SCHEMA_SCRIPT)], env={**env, "SQL_PASSWORD": ""},
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode != 0
    assert "SQL_PASSWORD" in done.stderr


# --- The Dockerfile ---------------------------------------------------------------------------


@dataclass
class Dockerfile:
    instructions: list[tuple[str, str]]

    def args(self, keyword: str) -> list[str]:
        return [args for k, args in self.instructions if k == keyword]

    @property
    def copied(self) -> set[str]:
        """The sources of every COPY from the build context, without trailing slashes (a
        COPY --from takes another stage's files)."""
        sources: set[str] = set()
        for args in self.args("COPY"):
            if args.startswith("--from"):
                continue
            words = [w for w in shlex.split(args) if not w.startswith("--")]
            sources |= {w.rstrip("/") for w in words[:-1]}
        return sources

    @property
    def cmd(self) -> list[str]:
        (args,) = self.args("CMD")
        command = json.loads(args)
        assert isinstance(command, list)
        return [str(word) for word in command]


def _dockerfile() -> Dockerfile:
    lines: list[str] = []
    pending = ""
    for raw in (ROOT / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        lines.append(pending + line)
        pending = ""
    instructions = []
    for line in lines:
        keyword, _, args = line.partition(" ")
        instructions.append((keyword.upper(), args.strip()))
    return Dockerfile(instructions)


def test_the_base_image_is_pinned_to_the_projects_python() -> None:
    *stages, base = _dockerfile().args("FROM")
    # The workspace's assets are built in a stage of their own, on an exact Node.js release.
    for stage in stages:
        assert re.fullmatch(r"node:\d+\.\d+\.\d+-[a-z]+-slim AS \w+", stage), stage
    match = re.fullmatch(r"python:(\d+)\.(\d+)\.(\d+)-slim-[a-z]+", base)
    assert match, f"FROM {base}: pin an exact python:X.Y.Z-slim-<debian> tag"
    assert f"{match[1]}.{match[2]}" == _pyproject()["tool"]["mypy"]["python_version"]


def test_the_image_holds_every_package_and_runs_as_another_user() -> None:
    dockerfile = _dockerfile()
    setuptools = _pyproject()["tool"]["setuptools"]
    # A subpackage (api.routes) comes with its top-level folder.
    top_level = {package.split(".")[0] for package in setuptools["packages"]}
    needed = {*top_level, *(f"{m}.py" for m in setuptools["py-modules"]),
              "alembic.ini", "store", "pyproject.toml", "deploy/worker_healthcheck.py"}
    assert needed <= dockerfile.copied, f"not copied: {sorted(needed - dockerfile.copied)}"
    (user,) = dockerfile.args("USER")
    assert not user.startswith(("root", "0")), user
    installs = [a for a in dockerfile.args("RUN") if "pip install" in a]
    assert installs
    assert not any("[dev]" in a or "-e " in a for a in installs), "no dev extras, no editable"
    assert dockerfile.cmd == ["uvicorn", "api.app:create_app", "--factory",
                              "--host", "0.0.0.0", "--port", "8000"]


def test_the_build_context_lets_in_exactly_what_is_copied() -> None:
    patterns = [p for p in (ROOT / ".dockerignore").read_text().splitlines()
                if p and not p.startswith("#")]
    assert patterns[0] == "*", "an allowlist: ignore everything, then let in what is copied"
    allowed = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    assert allowed == _dockerfile().copied


def test_the_worker_runs_the_same_image_and_the_health_check_it_copies() -> None:
    services = _services()
    assert services["worker"]["command"] == ["python", "worker.py"]
    assert services["worker"]["healthcheck"]["test"] == [
        "CMD", "python", str(WORKER_HEALTHCHECK.relative_to(ROOT))]
    assert services["migrate"]["command"] == ["alembic", "upgrade", "head"]
    assert "command" not in services["api"], "the image's CMD runs the API"


# --- With a Compose CLI, when there is one ----------------------------------------------------


def _compose_cli() -> list[str] | None:
    """`docker compose` (the plugin) or a `docker-compose` of v2 or later; None without one."""
    candidates: list[list[str]] = []
    if shutil.which("docker"):
        candidates.append(["docker", "compose"])
    if shutil.which("docker-compose"):
        candidates.append(["docker-compose"])
    for cli in candidates:
        result = subprocess.run([*cli, "version", "--short"], capture_output=True, text=True,
                                check=False)
        major = result.stdout.strip().lstrip("v").split(".")[0]
        if result.returncode == 0 and major.isdigit() and int(major) >= 2:
            return cli
    return None


def _without_cspr(env: Mapping[str, str]) -> dict[str, str]:
    """The environment of this process, without a developer's own settings."""
    return {k: v for k, v in env.items()
            if not k.startswith("CSPR_") and k not in SECRETS and not k.startswith("COMPOSE_")}


def test_compose_accepts_the_file_and_refuses_to_start_without_secrets(tmp_path: Path) -> None:
    cli = _compose_cli()
    if cli is None:
        pytest.skip("no Compose v2+ CLI installed (docker compose plugin or docker-compose)")
    # --env-file to an empty file: a developer's own .env does not hide a missing secret.
    empty = tmp_path / "empty.env"
    empty.write_text("")
    command = [*cli, "--file", str(COMPOSE_FILE), "--env-file", str(empty), "config", "--quiet"]
    base = _without_cspr(os.environ)
    refused = subprocess.run(command, env=base, capture_output=True, text=True, check=False)
    assert refused.returncode != 0
    for name in SECRETS:
        assert name in refused.stderr
    values = {"POSTGRES_PASSWORD": "p", "TEMPORAL_DB_PASSWORD": "t",
              "CSPR_ENCRYPTION_KEYS": "prod-1:k", "CSPR_JWT_AUDIENCE": "cspr",
              "CSPR_JWT_ISSUER": "https://idp.example", "CSPR_SMTP_PASSWORD": "s",
              "CSPR_SMTP_HOST": "smtp.example", "CSPR_SMTP_USERNAME": "cspr",
              "CSPR_MAIL_FROM": "MARS <mars@example.org>"}
    accepted = subprocess.run(command, env={**base, **values}, capture_output=True, text=True,
                              check=False)
    assert accepted.returncode == 0, accepted.stderr


# --- The scripts, against the Temporal dev server ---------------------------------------------


async def _run(*command: str, env: Mapping[str, str]) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *command, env=dict(env), cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, output.decode()


async def test_registering_search_attributes_twice_is_fine_and_a_type_clash_is_not(
    dev_env: WorkflowEnvironment,
) -> None:
    namespace = f"compose-{uuid.uuid4().hex[:8]}"
    await dev_env.client.workflow_service.register_namespace(RegisterNamespaceRequest(
        namespace=namespace, workflow_execution_retention_period=Duration(seconds=86400)))
    compose_env = _env(_services()["temporal-register"])
    env = {
        **_without_cspr(os.environ),
        "PATH": f"{Path(temporal_cli()).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "TEMPORAL_NAMESPACE": namespace,
        "SEARCH_ATTRIBUTES": compose_env["SEARCH_ATTRIBUTES"],
    }
    for _ in range(2):
        code, output = await _run("sh", str(REGISTER_SCRIPT), env=env)
        assert code == 0, output
    clash = {**env, "SEARCH_ATTRIBUTES": "CsprCaseId=Bool"}
    code, output = await _run("sh", str(REGISTER_SCRIPT), env=clash)
    assert code != 0, output
    assert "CsprCaseId" in output


async def test_the_worker_health_check_sees_this_hosts_worker_polling(
    dev_env: WorkflowEnvironment, dev_worker: Worker
) -> None:
    env = {
        **_without_cspr(os.environ),
        "PYTHONPATH": str(ROOT),  # as the Dockerfile sets it
        "CSPR_TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "CSPR_TEMPORAL_NAMESPACE": dev_env.client.namespace,
        "CSPR_TASK_QUEUE": dev_worker.task_queue,
        "CSPR_ENCRYPTION_KEYS": new_key_setting("test-1"),
    }
    command = (sys.executable, str(WORKER_HEALTHCHECK))
    for _ in range(20):  # the worker's first poll may not have reached the server yet
        code, output = await _run(*command, env=env)
        if code == 0:
            break
        await asyncio.sleep(0.5)
    assert code == 0, output
    idle = {**env, "CSPR_TASK_QUEUE": f"nobody-{uuid.uuid4()}"}
    code, output = await _run(*command, env=idle)
    assert code == 1
    assert "no worker of this container polls" in output


def test_the_register_script_takes_already_exists_as_done_and_stops_on_other_errors(
    tmp_path: Path,
) -> None:
    """Servers answer an attribute registered twice with success or with "already exists",
    depending on their version: both are done; anything else is a failure."""
    cli = tmp_path / "temporal"
    cli.write_text(
        "#!/bin/sh\n"
        'case "$*" in\n'
        '  *"search-attribute list"*) exit 0 ;;\n'
        '  *CsprCaseId*) echo "Error: Search attribute CsprCaseId already exists." >&2 ;;\n'
        '  *) echo "Error: connection refused" >&2 ;;\n'
        "esac\n"
        "exit 1\n"
    )
    cli.chmod(0o755)
    env = {"PATH": f"{tmp_path}{os.pathsep}{os.environ.get('PATH', '')}",
           "TEMPORAL_ADDRESS": "temporal:7233", "TEMPORAL_NAMESPACE": "default"}

    def register(attributes: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["sh", str(REGISTER_SCRIPT)], capture_output=True, text=True,
                              env={**env, "SEARCH_ATTRIBUTES": attributes}, check=False)

    done = register("CsprCaseId=Keyword")
    assert done.returncode == 0, done.stderr
    assert "already registered" in done.stdout
    failed = register("CsprCaseId=Keyword CsprStage=Keyword")
    assert failed.returncode == 1
    assert "connection refused" in failed.stderr
