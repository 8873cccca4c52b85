"""Workflow ids: a case's own id, and its child workflows' ids derived from it."""

from __future__ import annotations


def local_review_id(case_id: str) -> str:
    """The LCSPR supervision of a case (Flowchart 3, or Flowchart 4 for a request)."""
    return f"{case_id}-LCSPR"


def action_plan_id(case_id: str) -> str:
    """The monitoring of a case's action plan, once its final report is endorsed."""
    return f"{case_id}-ACTION-PLAN"


def closed_mail_id(case_id: str, message_id: int) -> str:
    """Settling one uncertain e-mail of a case whose workflow has closed."""
    return f"{case_id}-MAIL-{message_id}"
