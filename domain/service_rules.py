"""The service's own rules where a partnership could reasonably differ (issue 9, item 10).

Each goes beyond what the procedure says, and each is a setting (infra.settings, `CSPR_*`)
whose default is what the service has always done. Rules checked inside a workflow reach it
through its input (`ServiceRules`, fixed when the case opens), never read there: a replay
sees the value the case started with.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

# No setting may allow more children on one notification or request than this: the letters,
# the forms and Doc 1 have room for so many.
MAX_CHILDREN_LIMIT = 12
# The service's own cap (the procedure sets none): a notification names at most this many.
DEFAULT_MAX_CHILDREN = 4


class ReviewerInvolvement(StrEnum):
    """A reviewer with direct involvement in the case (CSPR_REVIEWER_INVOLVEMENT).

    Appendix 5: "In selecting a reviewer, consideration will be given to the following
    features: the review will be led by one or more individuals who have had no direct
    involvement in the management of the case". The procedure asks for consideration, not a
    refusal.
    """

    REFUSE = "refuse"  # the default: the service's own, stricter rule
    # Commissioned, with the consideration given recorded (`involvement_consideration`).
    CONSIDER = "consider"


class ServiceRules(BaseModel):
    """The service's own rules a case runs under, fixed when it opens (its input)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # A difference of opinion whose level's target passes is referred up the ladder by the
    # service itself. The procedure has the SSLs refer it ("Should the matter remain unresolved
    # the safeguarding partner's senior leads will refer the case to the safeguarding
    # partners"); off, the level is told its target passed and a person escalates it.
    difference_auto_refer: bool = True
    reviewer_involvement: ReviewerInvolvement = ReviewerInvolvement.REFUSE
    max_children: int = Field(DEFAULT_MAX_CHILDREN, ge=1, le=MAX_CHILDREN_LIMIT)
