"""What the API gives for a case's other processes (Appendix 3)."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from domain.calendar import WorkingDayCalendar
from domain.case import CaseState
from domain.parallel import CaseFacts, ParallelProcess, ProcessKind, suggest


class SuggestionRead(BaseModel):
    kind: ProcessKind
    reason: str = Field(description="The rule of Appendix 3 the facts meet")
    mandatory: bool = Field(description="The rule requires it: not for the partners' judgement")
    due_working_days: int | None = Field(description="Due within this many working days")
    due_from: date | None = Field(description="The day the working days count from")
    due_date: date | None = Field(description="The last day it is due, once due_from is known")
    recorded: bool = Field(description="The case has a record of this process")


class ParallelReviewsRead(BaseModel):
    """A case's other processes (Appendix 3): the facts, each process recorded, and the
    processes the facts suggest may apply, with why."""

    case_id: str
    facts: CaseFacts
    facts_recorded_at: datetime | None
    processes: list[ParallelProcess]
    suggestions: list[SuggestionRead]

    @classmethod
    def of(cls, case: CaseState, calendar: WorkingDayCalendar) -> ParallelReviewsRead:
        parallel = case.parallel
        recorded = {p.kind for p in parallel.processes}
        suggestions = [
            SuggestionRead(
                **s.model_dump(), recorded=s.kind in recorded,
                due_date=calendar.add_working_days(s.due_from, s.due_working_days)
                if s.due_from is not None and s.due_working_days is not None else None)
            for s in suggest(parallel.facts, case)
        ]
        return cls(case_id=case.case_id, facts=parallel.facts,
                   facts_recorded_at=parallel.facts_recorded_at,
                   processes=sorted(parallel.processes, key=lambda p: list(ProcessKind).index(
                       p.kind)),
                   suggestions=suggestions)
