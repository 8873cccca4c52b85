"""Search attributes operations filter cases by in the Temporal UI. Nothing personal in them."""

from temporalio.common import SearchAttributeKey

CASE_ID = SearchAttributeKey.for_keyword("CsprCaseId")
STAGE = SearchAttributeKey.for_keyword("CsprStage")
NEXT_DEADLINE = SearchAttributeKey.for_datetime("CsprNextDeadline")
OVERDUE = SearchAttributeKey.for_bool("CsprOverdue")
# The safeguarding partnership the case belongs to (store.tenancy): set by the API when it
# starts the case, never by the workflows; filter on it in the Temporal UI.
PARTNERSHIP = SearchAttributeKey.for_keyword("CsprPartnership")

ALL = (CASE_ID, STAGE, NEXT_DEADLINE, OVERDUE, PARTNERSHIP)
