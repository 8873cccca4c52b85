"""A request for a local CSPR where the serious-case definition is not met (Flowchart 4).

"Some cases may not meet the definition of a 'serious child safeguarding case', but
nevertheless raise issues of importance to the local area ... good practice, poor practice or
... 'near miss' events" (Consideration of a CSPR when the definition is not met). The request
is made through the Children's MARS team after discussion with the SSLs.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import AwareDatetime, Field, model_validator

from domain.notification import Child, Name, Strict, Text
from domain.service_rules import MAX_CHILDREN_LIMIT


class RequestCategory(StrEnum):
    """Why the case raises issues of importance to the local area."""

    GOOD_PRACTICE = "good_practice"
    POOR_PRACTICE = "poor_practice"
    NEAR_MISS = "near_miss"
    OTHER = "other"


class ReviewRequest(Strict):
    """'Request to safeguarding partners for a case to be considered for a local CSPR'."""

    received_at: AwareDatetime = Field(description="When the MARS team received the request")
    requesting_agency: Name
    category: RequestCategory
    summary: Text
    discussed_with_ssl: bool = Field(
        description="Flowchart 4: the request follows a discussion with the SSLs; must be true")
    children: list[Child] = Field(min_length=1, max_length=MAX_CHILDREN_LIMIT)

    @model_validator(mode="after")
    def _consistent(self) -> ReviewRequest:
        if not self.discussed_with_ssl:
            raise ValueError("discussed_with_ssl: a request is made after discussion with the "
                             "SSLs (Flowchart 4)")
        refs = [c.reference for c in self.children]
        if len(set(refs)) != len(refs):
            raise ValueError("children: each child's reference must be different")
        return self
