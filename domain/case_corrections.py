"""Corrections to a case by the MARS team: a withdrawal (entered in error, a duplicate) and an
amendment of the notification's children (moved from domain/case.py, which re-exports them).
"""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from domain.decisions import Actor
from domain.notification import Child, Text
from domain.service_rules import MAX_CHILDREN_LIMIT


class Withdrawal(BaseModel):
    """Why the MARS team withdraws a case: entered in error, or a duplicate of another."""

    model_config = ConfigDict(extra="forbid")

    # Text: free text, erased with the case's personal data (domain.retention).
    reason: Text = Field(description="Why the case is withdrawn (kept with the case)")
    duplicate_of: str | None = Field(
        None, pattern=r"^CSPR-\d{4}-[A-Z0-9]{4,12}$",
        description="The case this one duplicates, if it is a confirmed duplicate")


class WithdrawalMessage(BaseModel):
    """The `withdraw` Update: the withdrawal and who makes it (the API's token actor)."""

    withdrawal: Withdrawal
    actor: Actor | None = None


class WithdrawalRecord(Withdrawal):
    """A withdrawal made: when, and by whom."""

    withdrawn_at: AwareDatetime
    actor: Actor | None = None


class NotificationAmendment(BaseModel):
    """The notification's children as they should now be (replacing the list), and why."""

    model_config = ConfigDict(extra="forbid")

    reason: Text = Field(description="Why the notification is amended (kept with the case)")
    children: list[Child] = Field(
        min_length=1, max_length=MAX_CHILDREN_LIMIT,
        description="Every child of the notification, as it should now read: a date of birth "
        "learned later, a child added, a looked after or care leaver status corrected")


class AmendmentMessage(BaseModel):
    """The `amend_notification` Update: the amendment and who makes it."""

    amendment: NotificationAmendment
    actor: Actor | None = None


class AmendmentRecord(BaseModel):
    """An amendment made: why, what changed (by position), the children before, who, when."""

    reason: Text
    changes: list[str]
    children_before: list[Child]
    amended_at: AwareDatetime
    actor: Actor | None = None



def _child_changes(before: list[Child], after: list[Child]) -> list[str]:
    """What an amendment changed, by the children's positions (1-based) and field names only."""
    changes: list[str] = []
    old = {c.reference: (i, c) for i, c in enumerate(before, start=1)}
    for i, child in enumerate(after, start=1):
        found = old.get(child.reference)
        if found is None:
            changes.append(f"child {i} added")
            continue
        _, was = found
        for field in ("date_of_birth", "looked_after", "care_leaver"):
            if getattr(was, field) != getattr(child, field):
                given = getattr(was, field) is None
                changes.append(f"child {i}: {field} {'given' if given else 'corrected'}")
    kept = {c.reference for c in after}
    changes += [f"child {i} removed" for ref, (i, _) in old.items() if ref not in kept]
    return changes
