"""The workspace's reads of many cases (store/workspace.py) read what the pages need and no
more: My work the open cases, the Board's report the period's cases and the open ones, never
the closed history before the period; on the real case store."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from activities.case_store import project
from bench.workspace import a_case
from domain.calendar import london_instant
from domain.case import Stage
from store import meetings, tenancy, workspace
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


async def test_another_partnerships_cases_are_not_in_the_workspaces_reads(
    sessions: Sessionmaker,
) -> None:
    """The workspace's people are the default partnership's (store.tenancy): My work, the
    Board's report and the calendar feeds' meetings never hold another partnership's case."""
    today = datetime.now(UTC).date()
    # Numbers no other test's case takes, received a month ago: open.
    ours, theirs = (a_case(n, today, 1_000_000, 90) for n in (99_991, 99_992))
    assert not ours.closed
    assert not theirs.closed
    async with sessions.begin() as s:
        for case in (ours, theirs):
            await project(s, case, 1)
        await tenancy.assign(s, theirs.case_id, "north-east")
        start = datetime.now(UTC) - timedelta(days=1)
        for case in (ours, theirs):
            await meetings.book(s, case.case_id, "rapid_review_meeting", start + timedelta(days=2),
                                start + timedelta(days=2, hours=1), "Room 1",
                                ("mars@cspr.test", "mars_team", None), start)
    async with sessions() as s:
        default_open = {c for c, _ in await workspace.open_case_snapshots(s)}
        theirs_open = {c for c, _ in await workspace.open_case_snapshots(s, "north-east")}
        found, _ = await workspace.report_snapshots(
            s, london_instant(today - timedelta(days=400)), london_instant(today))
        booked = {m.case_id for m in await meetings.upcoming(s, start)}
        booked_theirs = {m.case_id for m in await meetings.upcoming(s, start,
                                                                   partnership="north-east")}
    assert ours.case_id in default_open
    assert theirs.case_id not in default_open
    assert theirs_open == {theirs.case_id}
    report_ids = {c for c, _ in found}
    assert ours.case_id in report_ids
    assert theirs.case_id not in report_ids
    assert ours.case_id in booked
    assert theirs.case_id not in booked
    assert booked_theirs == {theirs.case_id}
