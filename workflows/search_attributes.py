"""Search attributes operations filter cases by in the Temporal UI. Nothing personal in them."""

from temporalio.common import SearchAttributeKey

CASE_ID = SearchAttributeKey.for_keyword("CsprCaseId")
STAGE = SearchAttributeKey.for_keyword("CsprStage")
NEXT_DEADLINE = SearchAttributeKey.for_datetime("CsprNextDeadline")
OVERDUE = SearchAttributeKey.for_bool("CsprOverdue")

ALL = (CASE_ID, STAGE, NEXT_DEADLINE, OVERDUE)
