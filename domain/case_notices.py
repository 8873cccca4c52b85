"""The statutory notifications a notification calls for: the death of a looked after child or
of a care leaver (moved from domain/case.py, which re-exports them).
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel

from domain.notification import AbuseOrNeglect, Harm, Notification
from domain.procedure import Step

# Steps that apply only where the case's facts call for them (the statutory notifications).
OPTIONAL_STEPS = frozenset({Step.NOTIFY_SECRETARY_OF_STATE, Step.NOTIFY_OFSTED,
                            Step.HOME_OFFICE_CONTRIBUTION, Step.NOTIFY_HOME_OFFICE})
CARE_LEAVER_NOTICE_AGE = 25  # Ofsted is notified of the death of a care leaver under 25
ADULT_AGE = 18


class Notices(BaseModel):
    """Which statutory notifications a notification calls for, and whether that is all."""

    required: frozenset[Step] = frozenset()
    only: bool = False  # care leavers aged 18 or over: no rapid review, the notices only
    # A looked after child's death with no abuse or neglect suspected, the partners not
    # considering the CSPR criteria: the notices only as well.
    no_abuse_suspected: bool = False


def statutory_notices(notification: Notification) -> Notices:
    """The notices the death of a looked after child or a care leaver calls for.

    A looked after child's death: the Secretary of State and Ofsted, "whether or not abuse or
    neglect is known or suspected". A care leaver's death under 25: Ofsted, "regardless of the
    circumstances"; a care leaver whose date of birth is not given is taken to be under 25
    (notifying without need costs less than not notifying). Nothing for serious harm.
    """
    if notification.incident.harm is not Harm.DEATH:
        return Notices()
    died_on = notification.incident.date
    ages = [None if c.date_of_birth is None else _age(c.date_of_birth, died_on)
            for c in notification.children]
    looked_after = any(c.looked_after for c in notification.children)
    care_leaver_under_25 = any(
        c.care_leaver and (age is None or age < CARE_LEAVER_NOTICE_AGE)
        for c, age in zip(notification.children, ages, strict=True))
    required: set[Step] = set()
    if looked_after:
        required |= {Step.NOTIFY_SECRETARY_OF_STATE, Step.NOTIFY_OFSTED}
    if care_leaver_under_25:
        required.add(Step.NOTIFY_OFSTED)
    only = care_leaver_under_25 and all(
        c.care_leaver and not c.looked_after and age is not None
        and ADULT_AGE <= age < CARE_LEAVER_NOTICE_AGE
        for c, age in zip(notification.children, ages, strict=True))
    # "whether or not abuse or neglect is known or suspected": with none suspected the case
    # owes the notices; Flowcharts 1 and 2 only if the partners consider the criteria.
    unsuspected = (notification.incident.abuse_or_neglect is AbuseOrNeglect.NOT_SUSPECTED
                   and bool(required) and not notification.partners_consider_criteria)
    return Notices(required=frozenset(required), only=only or unsuspected,
                   no_abuse_suspected=unsuspected and not only)



def _age(born: date, on: date) -> int:
    """Whole years from `born` to `on` (a 29 February birthday counts on 1 March)."""
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))
