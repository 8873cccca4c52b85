"""The workspace's reads of many cases (store/workspace.py) read what the pages need and no
more: My work the open cases, the Board's report the period's cases and the open ones, never
the closed history before the period; on the real case store."""

from __future__ import annotations

from datetime import UTC, date, datetime

from activities.case_store import project
from bench.workspace import a_case
from domain.calendar import london_instant
from domain.case import Stage
from store import workspace
from store.db import Sessionmaker


def test_open_stages_are_every_stage_but_closed() -> None:
    assert set(workspace.OPEN_STAGES) == {s.value for s in Stage} - {"closed"}


async def test_open_cases_and_a_periods_cases_only(sessions: Sessionmaker) -> None:
    today = datetime.now(UTC).date()
    # One case a month over four years; the last 90 days' open, the older ones closed.
    cases = [a_case(n, today, 12, 90) for n in range(1, 49)]
    ids = {c.case_id: c for c in cases}
    async with sessions.begin() as s:
        for case in cases:
            await project(s, case, 1)
    open_ids = {c.case_id for c in cases if not c.closed}
    assert 1 <= len(open_ids) < 6
    async with sessions() as s:
        mine = {case_id for case_id, _ in await workspace.open_case_snapshots(s)}
        start, end = date(today.year - 2, 1, 1), date(today.year - 2, 12, 31)
        found, parts = await workspace.report_snapshots(
            s, london_instant(start), london_instant(date(today.year - 1, 1, 1)))
    assert mine >= open_ids  # other tests' open cases may share the store
    assert not {i for i in mine if i in ids} - open_ids
    in_period = {i for i, c in ids.items()
                 if start <= c.notification.received_at.date() <= end}  # type: ignore[union-attr]
    found_here = {case_id for case_id, _ in found if case_id in ids}
    assert found_here == in_period | open_ids
    assert len(in_period) == 12
    assert parts == [] or all(case_id not in ids for _, case_id, _ in parts)
