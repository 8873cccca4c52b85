"""`cspr`: commands for development. `cspr token` prints a bearer token for the local API.

The token is signed with the development secret `make run` gives the API: `CSPR_JWT_SECRET` if
set, else `.data/dev-jwt-secret` (under `CSPR_DATA_DIR`). Audience and issuer follow
`CSPR_JWT_AUDIENCE` and `CSPR_JWT_ISSUER` as the API does.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from datetime import timedelta

from api.auth import issue_token
from domain.permissions import ORGANISATION_ROLES, Role, organisation_refusal
from infra.dev import JWT_SECRET_FILE, data_dir_of
from infra.settings import Settings

MAX_HOURS = 24 * 7


class CliError(Exception):
    """Something the user must fix; printed without a traceback."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cspr", description="Commands for development.")
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
    token.add_argument("--hours", type=float, default=8.0,
                       help=f"hours until it expires (default 8, at most {MAX_HOURS})")
    return parser


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
            ttl=timedelta(hours=args.hours),
        )
    except ValueError as e:
        raise CliError(str(e)) from None


def run(argv: Sequence[str], env: Mapping[str, str]) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "token":
            sys.stdout.write(token(args, env) + "\n")
    except CliError as e:
        sys.stderr.write(f"cspr {args.command}: {e}\n")
        return 1
    return 0


def main() -> None:
    sys.exit(run(sys.argv[1:], os.environ))


if __name__ == "__main__":
    main()
