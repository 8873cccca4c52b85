"""Two workers and two API processes against one Temporal dev server and one PostgreSQL, one of
each SIGKILLed under load (bench/scale_out.py, with 3 cases): cases, case numbers, letters and
idempotency stay exactly-once, and the work is shared. About 90 s here: a request the killed API
was answering holds its Idempotency-Key for the key's lease (60 s) before the other API may take
it over, as it should."""

from __future__ import annotations

from pathlib import Path

from bench.scale_out import REQUESTS_PER_CASE, run


async def test_two_workers_and_two_apis_lose_nothing_when_one_of_each_is_killed(
    tmp_path: Path,
) -> None:
    counts = await run(cases=3, seed=12, workdir=tmp_path)
    assert counts.failed == [], counts.summary()
    assert counts.killed == ["worker-1", "api-1"]
    assert counts.cases_answered == counts.cases_stored == counts.cases_in_temporal == 3
    assert len(set(counts.case_numbers)) == 3
    # Every request answered once, replays on the other API included, each key stored once:
    # the script's requests and the MARS team's settlement of any letter the kill cut off.
    assert counts.keys_sent == counts.keys_stored == \
        3 * REQUESTS_PER_CASE + counts.settlements_sent
    assert counts.replays > 0
    # Letters and reminders: each message at the catcher once (no duplicate: counts.failed);
    # every one sent is there, and one the kill cut off mid-send (uncertain, shown to the MARS
    # team) may or may not be.
    sent = counts.emails_in_outbox - counts.emails_uncertain
    assert 0 < sent <= counts.emails_at_catcher <= counts.emails_in_outbox
    # Both workers worked; after the kill the survivor did everything.
    assert set(counts.tasks_by_worker) == {"worker-1", "worker-2"}
    assert set(counts.tasks_after_kill) == {"worker-2"}
