"""The partner directory's rules: which organisations there are, and who may be listed where.

The directory holds the partners and agencies that letters and reminders go to, and their
people. Pure data and functions, shared by the case store and the API.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from domain.permissions import PARTNER_ROLES, Role
from domain.procedure import Partner


class OrganisationKind(StrEnum):
    PARTNER = "partner"  # one of the three safeguarding partners: names which one
    AGENCY = "agency"  # any other agency (a school, an NHS trust, a charity): names none


@dataclass(frozen=True)
class FieldProblem:
    """Why a directory entry is refused, naming the field; never holds the entry's data."""

    field: str
    reason: str


def organisation_problem(kind: OrganisationKind, partner: Partner | None) -> FieldProblem | None:
    """A partner organisation names which of the three partners it is; an agency names none."""
    if kind is OrganisationKind.PARTNER and partner is None:
        return FieldProblem("partner", "is required for a partner organisation (one of "
                            + ", ".join(p.value for p in Partner) + ")")
    if kind is OrganisationKind.AGENCY and partner is not None:
        return FieldProblem("partner", "must be left out for an agency")
    return None


def person_problem(role: Role, kind: OrganisationKind) -> FieldProblem | None:
    """SSLs and DSPs act for one partner (as their tokens do): they belong to a partner
    organisation. Every other role may belong to any organisation."""
    if role in PARTNER_ROLES and kind is not OrganisationKind.PARTNER:
        return FieldProblem("role", f"a {role} belongs to a partner organisation, not an agency")
    return None


# A plain address (RFC 5321's dot-atom local part at a domain of letters, digits and hyphens,
# with a top-level label starting with a letter): no quoted local parts, comments or IP literals.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN = rf"(?:{_LABEL}\.)+[A-Za-z](?:[A-Za-z0-9-]{{0,61}}[A-Za-z0-9])"
_EMAIL = re.compile(rf"(?P<local>{_ATOM}(?:\.{_ATOM})*)@{_DOMAIN}", re.ASCII)
EMAIL_MAX_LENGTH = 254
_LOCAL_MAX_LENGTH = 64


def normalise_email(value: str) -> str:
    """The address as the directory keeps it: trimmed and in lower case, so that one address
    is listed once however it was typed. ValueError if it is not a plain e-mail address."""
    address = value.strip().lower()
    match = _EMAIL.fullmatch(address)
    if (match is None or len(address) > EMAIL_MAX_LENGTH
            or len(match["local"]) > _LOCAL_MAX_LENGTH):
        raise ValueError("is not an e-mail address")
    return address
