"""`cspr`: commands. `cspr token` prints a bearer token for the local API (development);
`cspr backup` backs the embedded case store up online; `cspr reconcile` repairs the case store
from the workflows (README, Operations).

The token is signed with the development secret `make run` gives the API: `CSPR_JWT_SECRET` if
set, else `.data/dev-jwt-secret` (under `CSPR_DATA_DIR`). Audience and issuer follow
`CSPR_JWT_AUDIENCE` and `CSPR_JWT_ISSUER` as the API does.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from activities.retention import run_retention
from api.auth import issue_token
from domain.permissions import ORGANISATION_ROLES, Role, organisation_refusal
from infra.backup import backup, sqlite_path
from infra.dev import JWT_SECRET_FILE, KEY_FILE, data_dir_of
from infra.reconcile import reconcile
from infra.settings import Settings
from infra.temporal import connect
from store.db import make_engine, make_sessionmaker

MAX_HOURS = 24 * 7


class CliError(Exception):
    """Something the user must fix; printed without a traceback."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cspr", description="Commands for cspr.")
    commands = parser.add_subparsers(dest="command", required=True)
    token = commands.add_parser(
        "token", help="print a bearer token for local use",
        description="Print a bearer token signed with the development secret.",
    )
    token.add_argument("--role", required=True, choices=[r.value for r in Role],
                       help="the token's role")
    token.add_argument("--org", help="the organisation: for ssl and dsp one of "
                       "local_authority, health, police; for agency the agency's name")
    token.add_argument("--subject", help="who the token is for (default: ROLE@local)")
    token.add_argument("--partnership", help="the safeguarding partnership the token is for "
                                             "(default: none, the default partnership)")
    token.add_argument("--hours", type=float, default=8.0,
                       help=f"hours until it expires (default 8, at most {MAX_HOURS})")
    backup = commands.add_parser(
        "backup", help="back the SQLite case store up online",
        description="Copy the SQLite case store (CSPR_DATABASE_URL) to FILE with SQLite's "
                    "online backup, while the service runs. PostgreSQL: pg_dump.")
    backup.add_argument("--to", required=True, type=Path, help="the backup file to write")
    reconcile = commands.add_parser(
        "reconcile", help="repair the case store from the workflows",
        description="Compare every case, LCSPR and action plan workflow Temporal holds with "
                    "the case store and write what the store is missing (after a restore). "
                    "Needs a worker running.")
    reconcile.add_argument("--open-only", action="store_true",
                           help="only running workflows (default: closed ones Temporal still "
                                "holds too)")
    retention = commands.add_parser(
        "retention", help="list what the retention job would anonymise (dry run)",
        description="List the case records past their retention (CSPR_RETENTION_*_DAYS) that "
                    "the daily retention schedule will anonymise, changing nothing. The job "
                    "itself runs as the Temporal Schedule cspr-retention "
                    "(`temporal schedule trigger --schedule-id cspr-retention` runs it now).")
    retention.add_argument("--dry-run", action="store_true", required=True,
                           help="required: this command never changes the store")
    return parser


async def run_retention_dry(env: Mapping[str, str]) -> str:
    settings = settings_of(env)
    engine = make_engine(settings.database_url)
    try:
        report = await run_retention(make_sessionmaker(engine), settings.retention,
                                     datetime.now(UTC), dry_run=True)
    finally:
        await engine.dispose()
    return "\n".join([*report.actions,
                      f"{len(report.actions)} record(s) of closed cases and "
                      f"{report.idempotency_records} idempotency record(s) would be anonymised "
                      "or removed (dry run: nothing changed)"])


def database_url(env: Mapping[str, str]) -> str:
    """CSPR_DATABASE_URL, or in development the store `make run` keeps in the data dir."""
    if env.get("CSPR_DATABASE_URL"):
        return env["CSPR_DATABASE_URL"]
    return f"sqlite+aiosqlite:///{data_dir_of(env) / 'cspr.db'}"


def settings_of(env: Mapping[str, str]) -> Settings:
    """The service's settings; in development, `make run`'s key and case store by default."""
    given: dict[str, str] = {"database_url": database_url(env)}
    key_file = data_dir_of(env) / KEY_FILE
    if not env.get("CSPR_ENCRYPTION_KEYS") and key_file.is_file() \
            and env.get("CSPR_ENVIRONMENT", "development") != "production":
        given["encryption_keys"] = key_file.read_text().strip()
    try:
        return Settings(**given)  # type: ignore[arg-type]
    except ValueError as e:
        raise CliError(f"invalid configuration: {e}") from None


def run_backup(args: argparse.Namespace, env: Mapping[str, str]) -> str:
    try:
        source = sqlite_path(database_url(env))
        pages = backup(source, args.to)
    except (ValueError, sqlite3.Error) as e:
        raise CliError(str(e)) from None
    return f"backed up {source} to {args.to} ({pages} pages)"


async def run_reconcile(args: argparse.Namespace, env: Mapping[str, str]) -> str:
    settings = settings_of(env)
    engine = make_engine(settings.database_url)
    try:
        client = await connect(settings)
        report = await reconcile(client, make_sessionmaker(engine), open_only=args.open_only)
    except RuntimeError as e:  # Temporal cannot be reached
        raise CliError(f"Temporal at {settings.temporal_address}: {e}") from None
    finally:
        await engine.dispose()
    lines = [f"{r.workflow_id}: {r.part} {'rewritten' if r.row_written else 'kept'}, "
             f"{r.events_added} audit event(s) added" for r in report.repairs]
    lines += [f"{workflow_id}: not answering (is a worker running?); not compared"
              for workflow_id in report.unreachable]
    lines += [f"case numbers of {year}: counter moved to {last}"
              for year, last in report.numbers_advanced.items()]
    lines.append(f"compared {report.compared} workflow(s); "
                 f"{len(report.repairs)} repaired" if report.changed
                 else f"compared {report.compared} workflow(s); the store matches them")
    return "\n".join(lines)


def dev_secret(env: Mapping[str, str]) -> str:
    if env.get("CSPR_JWT_SECRET"):
        return env["CSPR_JWT_SECRET"]
    path = data_dir_of(env) / JWT_SECRET_FILE
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        raise CliError(f"no development secret in {path}: run `make run` once (it creates "
                       "one), or set CSPR_JWT_SECRET") from None


def token(args: argparse.Namespace, env: Mapping[str, str]) -> str:
    if env.get("CSPR_ENVIRONMENT", "development") == "production":
        raise CliError("`cspr token` is for development: CSPR_ENVIRONMENT is production")
    role = Role(args.role)
    if args.org is not None and role not in ORGANISATION_ROLES:
        raise CliError(f"--org: the {role} role has no organisation")
    if (refusal := organisation_refusal(role, args.org)) is not None:
        raise CliError(f"--org: {refusal.reason}")
    if not 0 < args.hours <= MAX_HOURS:
        raise CliError(f"--hours: more than 0 and at most {MAX_HOURS}")
    defaults = Settings.model_fields
    try:
        return issue_token(
            dev_secret(env), role=role, organisation=args.org,
            subject=args.subject or f"{role}@local",
            audience=env.get("CSPR_JWT_AUDIENCE") or str(defaults["jwt_audience"].default),
            issuer=env.get("CSPR_JWT_ISSUER") or str(defaults["jwt_issuer"].default),
            ttl=timedelta(hours=args.hours), partnership=args.partnership,
        )
    except ValueError as e:
        raise CliError(str(e)) from None


def run(argv: Sequence[str], env: Mapping[str, str]) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "token":
            sys.stdout.write(token(args, env) + "\n")
        elif args.command == "backup":
            sys.stdout.write(run_backup(args, env) + "\n")
        elif args.command == "retention":
            sys.stdout.write(asyncio.run(run_retention_dry(env)) + "\n")
        elif args.command == "reconcile":
            sys.stdout.write(asyncio.run(run_reconcile(args, env)) + "\n")
    except CliError as e:
        sys.stderr.write(f"cspr {args.command}: {e}\n")
        return 1
    return 0


def main() -> None:
    sys.exit(run(sys.argv[1:], os.environ))


if __name__ == "__main__":
    main()
