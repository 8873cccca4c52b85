"""The patch ids the case workflows ask (`workflow.patched`), and the families' step name
(moved from workflows/case_workflow.py, which re-exports them). Changing a value here changes
what a recorded history replays against: never do.
"""

# The case continues as new before its history grows large (`workflows.continuation`); asked
# when a run's history first passes its threshold.
CONTINUE_PATCH = "case-continue-as-new"
# A refused signal is not sent to the event log (`record_case_event`): logged where refused.
QUIET_REJECTIONS_PATCH = "quiet-rejections"
# Audit events are logged by the workflow, not sent one by one to `record_case_event` (kept
# registered for the runs before): they reach the store with the projection (issue 13).
EVENTS_LOGGED_PATCH = "events-logged"
# A case's opening computes the due dates of its first clocks in one local activity
# (`compute_clocks_due_dates`), not one activity a clock (issue 13). Asked when a case opens.
OPENING_DATES_PATCH = "opening-dates"
# Every patch `_since` asks, taken at once by a run started on code that has them all: one
# marker a run, not one a patch (`_current`). A patch added later is asked as before, on its
# own, and taken at once by the next such marker's runs (case-patches-2).
CURRENT_PATCHES = "case-patches-1"
# The LCSPR is started with parent-close policy ABANDON (the case ends it itself when due).
LCSPR_ABANDON_PATCH = "lcspr-abandon"
# A step's alert e-mail names the deadline that fired (its own date and kind) rather than the
# step's earliest; asked at the first such alert (`workflow.patched`).
ALERT_PATCH = "alert-deadline"
# A difference raised e-mails its level's people; one escalated by a person says so (not
# "overdue"): new activities and a new mail kind (`workflow.patched`).
DIFFERENCE_MAIL_PATCH = "difference-mail"
# The family told of each decision, and reminded while one is not (issue 9): asked when a case
# opens (`_opening`).
FAMILIES_PATCH = "family-communication"
FAMILY_STEP = "family_communication"
