"""The case lists' queries go through indexes, not through every case (issue 13: "Case lists
scan and sort the whole table (no index on what they sort by)"). On PostgreSQL with 20,000
cases (their snapshots the size of a real one's first kilobytes), each list the API and the
workspace ask for (store.cases.case_list: each filter, with a partnership, a reviewer's own
cases, a year), its page (newest first) and its count are planned without a sequential scan
of `cases` nor of the tables its filters look in (migration 0016): their time does not grow
with the number of cases the filter does not match, and a count reads an index, never the
cases' rows. bench/reads.py measures the same lists from 1,000 to 10,000 cases.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncEngine

from store.cases import case_list, counted, newest_first
from tests import database

CASES = 20_000
TODAY = date(2026, 12, 4)
# Tables the lists read, and may read only through an index.
TABLES = ("cases", "case_steps", "part_deadlines", "case_parts")

LOAD = [
    # Stages as a store years old has them: most cases closed.
    f"""insert into cases (case_id, kind, procedure_version, stage, outcome, overdue,
        next_deadline, received_at, incident_date, possible_duplicate_of, version, snapshot,
        updated_at)
    select 'CSPR-' || lpad(n::text, 8, '0'),
           case when n % 7 = 0 then 'request' else 'serious_incident' end, 'r5',
           case when n % 20 < 17 then 'closed' else (array['notified', 'ssl_recommendation',
                'rapid_review'])[1 + n % 3] end,
           null, n % 20 = 19, null, timestamptz '2026-12-04' - n * interval '3 hours',
           null, '[]'::jsonb, 1,
           jsonb_build_object('pad', (select string_agg(md5(n::text || i), '')
                                      from generate_series(1, 40) i)),
           now()
    from generate_series(1, {CASES}) n""",
    """insert into case_steps (case_id, step, due_date, statutory, status, completed_on)
    select case_id, s.step, date '2026-12-04' + abs(hashtext(case_id || s.step)) % 400 - 30,
           s.step = 'panel_notification',
           case when stage = 'closed' then 'completed' else 'pending' end, null
    from cases, (values ('inform_partners'), ('ssl_recommendation'), ('dsp_decision'),
                        ('panel_notification')) s(step)""",
    """insert into case_parts (case_id, part, stage, overdue, next_deadline, version, snapshot,
        updated_at)
    select case_id, 'local_review', 'terms_of_reference', right(case_id, 2) = '00', null, 1,
           '{}'::jsonb, now()
    from cases where right(case_id, 1) = '0'""",
    """insert into part_deadlines (case_id, part, step, due_date, statutory, overdue)
    select case_id, 'local_review', t.step,
           date '2026-12-04' + abs(hashtext(case_id || t.step)) % 400 - 30, false, false
    from case_parts, (values ('terms_of_reference'), ('final_report')) t(step)""",
    """insert into case_partnerships (case_id, partnership)
    select case_id, 'north' from cases where right(case_id, 2) = '50'""",
]

LISTS: dict[str, dict[str, Any]] = {
    "all": {},
    "a stage": {"stage": "rapid_review"},
    "a kind": {"kind": "request"},
    "overdue": {"overdue": True},
    "not overdue, open": {"overdue": False, "stage": "notified"},
    "due before": {"due_before": TODAY + timedelta(days=7)},
    "due after": {"due_after": TODAY + timedelta(days=390)},
    "a year": {"received": (datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))},
    "a reviewer's cases": {"only": [f"CSPR-{n:08d}" for n in range(40, 400, 40)]},
    "another partnership": {"partnership": "north"},
    "another partnership, a stage": {"partnership": "north", "stage": "notified"},
}


@pytest.fixture(scope="module")
async def loaded(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[AsyncEngine]:
    engine, schema, url = await database.test_database(tmp_path_factory.mktemp("plans"))
    if engine.dialect.name != "postgresql":
        await database.drop(engine, schema, url)
        pytest.skip("the plans are PostgreSQL's (the production store)")
    try:
        async with engine.begin() as conn:
            for statement in LOAD:
                await conn.execute(text(statement))
        # As autovacuum does after a load: statistics, and the visibility map that lets a
        # count read an index alone.
        async with engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            for table in TABLES:
                await conn.execute(text(f"vacuum analyze {table}"))
        yield engine
    finally:
        await database.drop(engine, schema, url)


async def plan(engine: AsyncEngine, query: Select[Any], analyze: bool = False) -> str:
    dialect: Any = postgresql.dialect()  # type: ignore[no-untyped-call]
    sql = query.compile(dialect=dialect, compile_kwargs={"literal_binds": True})
    async with engine.connect() as conn:
        explain = "explain (analyze)" if analyze else "explain"
        rows = (await conn.execute(text(f"{explain} {sql}"))).scalars().all()
    return "\n".join(rows)


def scans(found: str) -> list[str]:
    return [line.strip() for line in found.splitlines()
            if "Seq Scan on" in line and line.split("Seq Scan on ")[1].split()[0] in TABLES]


NODE = re.compile(r" on (\w+)(?: \w+)?  \(cost=.*actual time=\S+ rows=(\d+) loops=(\d+)\)")
REMOVED = re.compile(r"Rows Removed by (?:Filter|Index Recheck): (\d+)")


def touched(found: str) -> dict[str, int]:
    """Rows each scan of the lists' tables read, as EXPLAIN ANALYZE counts them: those it
    produced and those its filter removed, over all its loops, and one a loop (an index probe
    that found nothing still looked)."""
    read: dict[str, int] = {}
    table, loops = None, 1
    for line in found.splitlines():
        if (node := NODE.search(line)) is not None:
            table, loops = node[1], int(node[3])
            if table in TABLES:
                read[table] = read.get(table, 0) + (int(node[2]) + 1) * loops
        elif "->" in line:
            table = None
        elif table in TABLES and (removed := REMOVED.search(line)) is not None:
            read[table] += int(removed[1]) * loops
    return read


@pytest.mark.parametrize("name", LISTS)
async def test_a_case_list_page_and_count_use_indexes(loaded: AsyncEngine, name: str) -> None:
    """Each list's page (newest first, 50) and its count read `cases` and the tables its
    filters look in through their indexes: no sequential scan of any, and no table read
    further than the cases the list finds (five rows a case found, and a page's worth) or, for
    a filter the open cases or a partnership's narrow first, than half the cases: not a scan
    of every case checking each against the filter (as `overdue OR EXISTS (...)` planned: a
    probe of the parts for each of the 20,000 cases)."""
    query = case_list(**LISTS[name])
    async with loaded.connect() as conn:
        found = (await conn.execute(counted(query))).scalar_one()
    page = await plan(loaded, newest_first(query).limit(50).offset(0), analyze=True)
    count = await plan(loaded, counted(query), analyze=True)
    assert scans(page) == [], page
    assert scans(count) == [], count
    bound = max(5 * (found + 50), CASES // 2)
    for table, read in (touched(page) | touched(count)).items():
        assert read <= bound, (table, read, found, page, count)


async def test_the_count_of_every_case_reads_an_index_not_the_rows(loaded: AsyncEngine) -> None:
    """The count of every case (the list unfiltered, as it opens) is an index-only scan: the
    cases' snapshots, most of the table's bytes, are not read."""
    count = await plan(loaded, counted(case_list()))
    assert "Index Only Scan" in count, count
    assert scans(count) == [], count


async def test_a_page_is_read_in_order_off_an_index(loaded: AsyncEngine) -> None:
    """The first page of every case, and of a stage's, comes off an index already in the
    list's order (at most an incremental sort of the cases received at the same instant): no
    sort of every matching case."""
    for query in (case_list(), case_list(stage="rapid_review")):
        page = await plan(loaded, newest_first(query).limit(50))
        sorts = [
            line
            for line in page.splitlines()
            if line.strip().removeprefix("->  ").startswith("Sort  (")
        ]
        assert sorts == [], page
