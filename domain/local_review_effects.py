"""What each LCSPR record changes, once `LocalReviewState.check` has allowed it.

Split from `domain.local_review` to keep each file readable in one sitting; pure like it.
It takes the review's state and changes it in place.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

from domain.case import ClockPoint, Completion, EventKind
from domain.local_review_records import (
    Consent,
    DraftShared,
    FinalReport,
    FindingsCommunicated,
    InformPanel,
    LocalReviewStep,
    NotPublished,
    NotPublishedAgreement,
    ProgressReturn,
    PublicationDelayed,
    PublicationPlanned,
    Published,
    ReportEndorsement,
    ReportSent,
    ReviewerCommissioned,
    ReviewerToPanel,
    ReviewRecord,
    SupervisionPlan,
    SupervisionRequest,
    TermsOfReference,
    TorEndorsement,
    YjbSubmission,
)
from domain.local_review_tasks import (
    FINDINGS_WORKING_DAYS,
    PARTNERS,
    PROGRESS_RETURN_WORKING_DAYS,
    PUBLISHED_FOR_MONTHS,
    REVIEWER_TO_PANEL_WORKING_DAYS,
    WORKING_DAYS_A_WEEK,
    Dated,
    DateNeed,
    Due,
    ReviewStage,
    Task,
)
from domain.procedure import DeadlineKind

if TYPE_CHECKING:
    from domain.local_review import LocalReviewState

S = LocalReviewStep
_LOCAL = DeadlineKind.LOCAL


def apply_record(review: LocalReviewState, record: ReviewRecord, now: datetime,
                 send_by: Dated | None) -> list[DateNeed]:
    step = LocalReviewStep(record.step)
    done = Completion(completed_on=record.completed_on, completed_at=now)
    point = ClockPoint(on=record.completed_on) if record.completed_on else ClockPoint(at=now)
    detail = getattr(getattr(record, "partner", None), "value", "")
    task: str | None = None
    needs: list[DateNeed] = []
    mark = len(review.events)
    match record:
        case InformPanel(reviewer_name=None):
            review.task(step).completion = done
            # The name follows once a reviewer is commissioned: a task of its own.
            review.tasks.append(Task(step=S.REVIEWER_TO_PANEL))
        case ReviewerCommissioned() if review.owes_reviewer_details():
            review.task(step).completion = done
            details = review.task(S.REVIEWER_TO_PANEL)
            details.due = Due(kind=_LOCAL, since=point,
                              basis=f"commissioned+{REVIEWER_TO_PANEL_WORKING_DAYS} working days")
            needs.append(DateNeed(key=details.key, start=point,
                                  working_days=REVIEWER_TO_PANEL_WORKING_DAYS))
        case InformPanel() | ReviewerCommissioned() | ReportSent() | ReviewerToPanel() \
                | FindingsCommunicated():
            review.task(step).completion = done
        case YjbSubmission():
            found = next((t for t in review.tasks if t.step is step), None)
            if found is None:  # a YJB notification recorded after the review started
                found = Task(step=S.YJB_SUBMISSION)
                review.tasks.append(found)
            found.completion = done
        case TermsOfReference():
            terms = review.task(step)
            if terms.completion is not None:
                detail = "recorded again: the partners endorse it again"
            terms.completion = done
            _reset_parts(review.task(S.TOR_ENDORSEMENT))
        case TorEndorsement(partner=p) | ReportEndorsement(partner=p):
            _add_part(review.task(step), p.value, done)
        case SupervisionPlan(every_weeks=weeks, draft_dates=dates):
            review.supervision_every_weeks, review.draft_dates = weeks, list(dates)
            needs += _plan_drafts(review, dates)
            detail = f"every {weeks} weeks, {len(dates)} draft dates"
            if review.stage is ReviewStage.REVIEW:
                needs += _reschedule_request(review)
        case SupervisionRequest():
            request = _open_request(review)
            assert request is not None
            request.completion = done
            n = request.number or 0
            task = f"{step.value}#{n}"
            reply = Task(step=S.PROGRESS_RETURN, number=n, due=Due(
                kind=_LOCAL, basis=f"request+{PROGRESS_RETURN_WORKING_DAYS} working days",
                since=point))
            review.tasks.append(reply)
            needs.append(DateNeed(key=reply.key, start=point,
                                  working_days=PROGRESS_RETURN_WORKING_DAYS))
            needs += _schedule_request(review, n + 1, point)
        case ProgressReturn(request=n) | DraftShared(draft=n):
            found = review.find(step, n)
            assert found is not None
            found.completion = done
            task = found.key
        case FinalReport():
            report = review.task(step)
            detail = "revised: the partners endorse it again" if report.completion else ""
            report.completion = done
            _reset_parts(review.task(S.REPORT_ENDORSEMENT))
            for t in review.tasks:
                if t.step in (S.SUPERVISION_REQUEST, S.PROGRESS_RETURN, S.DRAFT_SHARED) and t.open:
                    t.not_required = True  # the final report answers what is outstanding
        case PublicationPlanned(publication_date=on):
            review.planned_publication = review.expected_publication = on
            detail = f"publication {on}"
            sent = review.task(S.REPORT_SENT)
            if send_by is not None and sent.open:
                # Statutory: the report reaches the Panel, SoS and Ofsted 7 working days before.
                sent.due = Due(kind=DeadlineKind.STATUTORY,
                               basis="7 working days before publication")
                review.set_dates([send_by.model_copy(update={"key": sent.key})])
            due = review.task(S.PUBLISHED).due
            if due is not None and due.due_date is not None and on > due.due_date:
                # Warned now, escalated when the deadline itself passes.
                review.event(now, EventKind.REMINDER, S.PUBLISHED.value,
                             f"warning: publication planned for {on}, after the "
                             f"{due.kind.value} deadline {due.due_date}")
        case PublicationDelayed(new_expected_date=on, because_of=because_of):
            review.expected_publication = on
            review.publication_delayed_because_of = list(because_of)
            detail = (f"new expected date {on}; reasons sent to the Panel and the Secretary "
                      "of State" if review.serious else f"new expected date {on}")
            if because_of:
                detail += "; because of " + ", ".join(k.value for k in because_of)
        case Published(published_on=on):
            review.published_on = on
            agreement = review.not_published_agreement()
            if agreement is not None and agreement.open:
                agreement.not_required = True  # published after all: nothing to agree
            needs += _settle(review, on, now)
        case NotPublished(improvements_published_on=on) if review.partners_agree_not_publishing:
            # "Safeguarding partners must publish the report, unless they consider it
            # inappropriate": the decision waits for each partner's agreement.
            agreement = review.not_published_agreement()
            if agreement is None:
                agreement = Task(step=S.NOT_PUBLISHED_AGREEMENT, expected_parties=PARTNERS)
                review.tasks.append(agreement)
                detail = "not published: awaiting each partner's agreement"
            else:
                _reset_parts(agreement)
                detail = "not published, recorded again: each partner agrees again"
            if on:
                detail += f"; improvements published {on}"
        case NotPublished(improvements_published_on=on):
            review.improvements_published_on = on
            detail = "not published" + (f"; improvements published {on}" if on else "")
            needs += _settle(review, on, now)
        case NotPublishedAgreement(partner=p):
            agreement = review.not_published_agreement()
            assert agreement is not None
            _add_part(agreement, p.value, done)
            if agreement.completion is not None:
                decided = next(r for r in reversed(review.records)
                               if isinstance(r, NotPublished))
                on = decided.improvements_published_on
                review.improvements_published_on = on
                detail += "; all partners agree: not published" + (
                    f", improvements published {on}" if on else "")
                needs += _settle(review, on, now)
    if isinstance(record, Consent):
        settled = record.given or bool(record.lawful_without_consent)
        consent = review.task(S.CONSENT)
        consent.completion = done if settled else None
        detail = ("given" if record.given else "not given: the data-protection check found it "
                  + ("lawful without consent" if settled else "not lawful without consent"))
    if isinstance(record, ReviewerCommissioned) and not record.no_direct_involvement:
        detail = "direct involvement in the case: the consideration given is recorded"
    review.event(now, EventKind.RECORDED, task or step.value, detail)
    review.events.insert(mark, review.events.pop())  # the record first, then what it caused
    _advance(review, now, point, needs)
    return needs


def _advance(review: LocalReviewState, now: datetime, point: ClockPoint,
             needs: list[DateNeed]) -> None:
    """Move the review on when a record completes its stage."""
    if review.stage is ReviewStage.TERMS_OF_REFERENCE and all(
            review.task(s).completion is not None
            for s in (S.TERMS_OF_REFERENCE, S.TOR_ENDORSEMENT, S.REVIEWER_COMMISSIONED)):
        review.move(now, ReviewStage.REVIEW)
        needs += _schedule_request(review, 1, point)
    elif review.stage is ReviewStage.REVIEW and review.task(S.FINAL_REPORT).completion:
        review.move(now, ReviewStage.ENDORSEMENT)
    elif (review.stage is ReviewStage.ENDORSEMENT
          and review.task(S.REPORT_ENDORSEMENT).completion is not None):
        review.move(now, ReviewStage.PUBLICATION)
    review.settle_if_done(now)


def _settle(review: LocalReviewState, on: date | None, now: datetime) -> list[DateNeed]:
    """Publication settled: the report published, or the improvements instead."""
    review.task(S.PUBLISHED).completion = Completion(completed_on=on, completed_at=now)
    needs = _after_publication(review, on, now)
    if on is None:
        return needs
    return [DateNeed(key="earliest_removal", start=ClockPoint(on=on),
                     calendar_months=PUBLISHED_FOR_MONTHS), *needs]


def _after_publication(review: LocalReviewState, on: date | None, now: datetime
                       ) -> list[DateNeed]:
    """The findings to the relevant parties (the service's own target), and a published review
    to the YJB at publication where the case had a YJB notification."""
    if not review.findings_due:
        return []
    start = ClockPoint(on=on) if on is not None else ClockPoint(at=now)
    findings = Task(step=S.FINDINGS_COMMUNICATED, due=Due(
        kind=_LOCAL, since=start,
        basis=f"published+{FINDINGS_WORKING_DAYS} working days (the service's own target)"))
    review.tasks.append(findings)
    needs = [DateNeed(key=findings.key, start=start, working_days=FINDINGS_WORKING_DAYS)]
    if review.yjb_notified and review.published_on is not None and not any(
            t.step is S.YJB_SUBMISSION for t in review.tasks):
        yjb = Task(step=S.YJB_SUBMISSION, due=Due(
            kind=_LOCAL, since=start, basis="at publication (the YJB's request)"))
        review.tasks.append(yjb)
        needs.append(DateNeed(key=yjb.key, start=start))
    return needs


def _add_part(task: Task, party: str, done: Completion) -> None:
    task.parts.append(done.model_copy(update={"party": party}))
    if {p.party for p in task.parts} >= set(task.expected_parties):
        task.completion = done


def _reset_parts(task: Task) -> None:
    task.parts, task.completion = [], None


def _open_request(review: LocalReviewState) -> Task | None:
    return next((t for t in review.numbered(S.SUPERVISION_REQUEST) if t.open), None)


def _schedule_request(review: LocalReviewState, n: int, since: ClockPoint) -> list[DateNeed]:
    weeks = review.supervision_every_weeks
    task = Task(step=S.SUPERVISION_REQUEST, number=n, due=Due(
        kind=_LOCAL, basis=f"every {weeks} weeks", since=since))
    review.tasks.append(task)
    return [DateNeed(key=task.key, start=since, working_days=weeks * WORKING_DAYS_A_WEEK)]


def _reschedule_request(review: LocalReviewState) -> list[DateNeed]:
    """A new interval applies to the request now awaited, from the point it counts from."""
    task = _open_request(review)
    if task is None or task.due is None or task.due.since is None:
        return []
    weeks = review.supervision_every_weeks
    task.due.basis = f"every {weeks} weeks"
    return [DateNeed(key=task.key, start=task.due.since,
                     working_days=weeks * WORKING_DAYS_A_WEEK)]


def _plan_drafts(review: LocalReviewState, dates: list[date]) -> list[DateNeed]:
    needs: list[DateNeed] = []
    for n, on in enumerate(dates, start=1):
        task = review.find(S.DRAFT_SHARED, n)
        if task is None:
            task = Task(step=S.DRAFT_SHARED, number=n)
            review.tasks.append(task)
        elif task.completion is not None:
            continue
        task.not_required = False
        task.due = Due(kind=_LOCAL, basis="the date the group set", since=ClockPoint(on=on))
        needs.append(DateNeed(key=task.key, start=ClockPoint(on=on)))
    for task in review.numbered(S.DRAFT_SHARED)[len(dates):]:
        task.not_required = task.completion is None  # dropped from the plan
    return needs
