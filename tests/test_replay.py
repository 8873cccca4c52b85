"""Committed histories replay on today's code: a change that breaks running cases fails here.

Histories are recorded by `python -m tests.histories.record`. A change to workflow logic must
keep every one of them replaying (gate it with `workflow.patched`); never re-record to pass.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner

from domain.decisions import Decision
from domain.permissions import Refusal
from tests.conftest import CONVERTER, without_patch
from worker import STRICT_RUNNER, WORKFLOW_RUNNER
from worker import WORKFLOWS as ALL_WORKFLOWS
from workflows import case_workflow
from workflows.review_request import ReviewRequestWorkflow
from workflows.serious_incident import CaseInput, SeriousIncidentWorkflow

HERE = Path(__file__).parent / "histories"
HISTORIES = sorted(HERE.glob("*.json"))
REFUSED_SIGNALS = HERE / "signals_checked_against_permissions.v3.json"
BEFORE_THE_LCSPR_CHILD = [p for p in HISTORIES if p.stem.rsplit(".", 1)[1] in ("v1", "v2", "v3")]
LCSPR_CHILD = HERE / "lcspr_child_closes_a_serious_case.parent1.json"
DIFFERENCES = HERE / "disagreement_up_the_ladder.doo1.json"
CONTINUED = HERE / "refused_signals_continue_as_new.can1.json"
DISAGREEMENTS = sorted(HERE.glob("disagreement_then_not_met.v*.json"))
MAIL = HERE / "mail_notices_and_a_bank_holiday.mail1.json"
# Recorded with one change at a time (workflows.serial), a bounded projection
# (workflows.projection) and the mail activities' heartbeat: issue 11.
FAULTS = sorted(HERE.glob("*.faults1.json"))
# Older histories with reminders or an SSL recommendation: e-mail would have been sent there.
BEFORE_MAIL = [*sorted(HERE.glob("timeline_with_overdue_steps_to_national_review.v*.json")),
               DIFFERENCES]
WORKFLOWS = [SeriousIncidentWorkflow, ReviewRequestWorkflow]


def load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(path.stem, json.loads(path.read_text()))


def test_there_are_histories_to_replay() -> None:
    assert len(HISTORIES) >= 3


def patch_markers(path: Path) -> set[str]:
    """The patch ids a history marks (the markers' one plain payload)."""
    history = load(path)
    return {json.loads(p.data)["id"]
            for e in history.events if e.HasField("marker_recorded_event_attributes")
            and "patch-data" in e.marker_recorded_event_attributes.details  # not a local activity
            for p in e.marker_recorded_event_attributes.details["patch-data"].payloads}


def workflow_type(path: Path) -> str:
    history = load(path)
    return str(history.events[0].workflow_execution_started_event_attributes.workflow_type.name)


def test_each_tag_replays_the_patches_of_its_day() -> None:
    """v1 predates every patch, v2 took the case store, v3 the notifier and signal permissions,
    parent1 the LCSPR child (a review request, younger than every patch, has none), doo1 the
    differences of opinion: the replay below runs each patch's old and new branch."""
    tags = {p.stem.rsplit(".", 1)[1] for p in HISTORIES}
    assert tags >= {"v1", "v2", "v3", "parent1"}
    for path in HISTORIES:
        tag = path.stem.rsplit(".", 1)[1]
        markers = patch_markers(path)
        if tag == "v1":
            assert markers == set(), path.name
        elif tag == "v2":
            assert markers == {"case-store"}, path.name
        elif tag == "v3" and path != REFUSED_SIGNALS:
            assert markers == {"case-store", "notified-event"}, path.name
        elif tag == "parent1" and workflow_type(path) == "ReviewRequest":
            assert markers == set(), path.name
        elif tag == "parent1":
            assert markers == {"case-store", "notified-event", "lcspr-child"}, path.name
        elif tag == "doo1":
            assert markers == {"case-store", "notified-event", "lcspr-child",
                               "differences-of-opinion"}, path.name
        elif tag == "mail1":
            assert markers == {"case-store", "notified-event", "lcspr-child",
                               "differences-of-opinion", "mail"}, path.name
        elif tag == "can1":  # a case's first run continuing as new, and the run after
            assert "quiet-rejections" in markers, path.name
        elif tag == "panel1":  # procedure r5: the Panel's answers, the partners' LCSPR
            # (its information reminded: an alert naming its deadline; the LCSPR at the
            # partners' decision)
            assert markers >= {"case-store", "lcspr-child", "lcspr-at-decision",
                               "lcspr-abandon", "alert-deadline"}, path.name
        elif tag == "family1":  # the family told of each decision, reminded until it is
            assert markers >= {"family-communication", "mail"}, path.name
        elif tag == "faults1":
            assert markers >= {"case-store", "notified-event", "lcspr-child",
                               "differences-of-opinion", "serial-changes",
                               "projection-alert"}, path.name
    assert patch_markers(REFUSED_SIGNALS) == {"case-store", "notified-event",
                                              "signal-permissions"}
    assert patch_markers(CONTINUED) >= {"case-continue-as-new", "quiet-rejections"}
    assert load(CONTINUED).events[-1].HasField(
        "workflow_execution_continued_as_new_event_attributes")


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_history_replays(path: Path) -> None:
    replayer = Replayer(workflows=WORKFLOWS, data_converter=CONVERTER,
                        workflow_runner=WORKFLOW_RUNNER)
    result = await replayer.replay_workflow(load(path))
    assert result.replay_failure is None


async def test_every_history_replays_in_the_strict_sandbox() -> None:
    """The worker passes the workflow modules through the sandbox (worker.PASSED_THROUGH), so
    the sandbox's checks (no clock, randomness or I/O) no longer see into their code: here
    every committed history, the LCSPR's and the action plan's too, replays in the SDK's
    default sandbox, which imports the workflow modules again and checks every call."""
    paths = [*HISTORIES, *sorted(HERE.glob("*/*.json"))]
    assert len(paths) > len(HISTORIES)
    replayer = Replayer(workflows=ALL_WORKFLOWS, data_converter=CONVERTER,
                        workflow_runner=STRICT_RUNNER)
    results = await replayer.replay_workflows(histories(paths), raise_on_replay_failure=False)
    assert results.replay_failures == {}


async def histories(paths: list[Path]) -> AsyncIterator[WorkflowHistory]:
    for path in paths:
        yield load(path)



@workflow.defn(name="SeriousIncident")
class ChangedWithoutPatch:
    """What an unguarded change looks like: a timer where the history has an activity."""

    @workflow.run
    async def run(self, _: CaseInput) -> None:
        await workflow.sleep(timedelta(seconds=1))


async def test_an_unpatched_change_fails_replay() -> None:
    # Unsandboxed: the sandbox would re-import this test module, which does I/O at import.
    replayer = Replayer(workflows=[ChangedWithoutPatch], data_converter=CONVERTER,
                        workflow_runner=UnsandboxedWorkflowRunner())
    result = await replayer.replay_workflow(load(BEFORE_THE_LCSPR_CHILD[0]),
                                            raise_on_replay_failure=False)
    assert result.replay_failure is not None


async def replay_unsandboxed(path: Path) -> Exception | None:
    # Unsandboxed, so the changes the tests below monkeypatch in are the code that replays.
    replayer = Replayer(workflows=WORKFLOWS, data_converter=CONVERTER,
                        workflow_runner=UnsandboxedWorkflowRunner())
    result = await replayer.replay_workflow(load(path), raise_on_replay_failure=False)
    return result.replay_failure


def patched_except(always: str) -> Callable[[str], bool]:
    """workflow.patched, but with one patch taken whatever the history says (unguarded)."""
    patched = workflow.patched
    return lambda patch_id: True if patch_id == always else patched(patch_id)


@pytest.mark.parametrize("path", [p for p in BEFORE_THE_LCSPR_CHILD
                                  if not p.stem.endswith(".v3")], ids=lambda p: p.stem)
async def test_the_notified_event_unguarded_fails_older_histories(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert await replay_unsandboxed(path) is None
    monkeypatch.setattr(workflow, "patched", patched_except("notified-event"))
    assert await replay_unsandboxed(path) is not None


async def test_the_refusals_are_in_the_v3_history(monkeypatch: pytest.MonkeyPatch) -> None:
    """The v3 history of refused signals replays only on code that refuses them: without the
    check its patch marker has no command, and with the marker kept but the signals applied
    the commands differ (the refusals themselves are in history, not only the marker)."""
    assert await replay_unsandboxed(REFUSED_SIGNALS) is None
    refusal = case_workflow._refusal
    monkeypatch.setattr(case_workflow, "_refusal", lambda _: None)
    assert "signal-permissions" in str(await replay_unsandboxed(REFUSED_SIGNALS))

    def marked_but_allowed(decision: Decision) -> Refusal | None:
        if refusal(decision) is not None:
            workflow.patched("signal-permissions")
        return None

    monkeypatch.setattr(case_workflow, "_refusal", marked_but_allowed)
    failure = await replay_unsandboxed(REFUSED_SIGNALS)
    assert failure is not None
    assert "signal-permissions" not in str(failure)


@pytest.mark.parametrize("path", sorted(HERE.glob("timeline_with_overdue_steps_to_national_review"
                                                 ".v*.json")), ids=lambda p: p.stem)
async def test_the_lcspr_child_unguarded_fails_older_histories(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cases started before the LCSPR child close on the Panel's national review while at
    local_review, as they always did (these histories do): only the patch keeps them
    replaying."""
    monkeypatch.setattr(workflow, "patched", patched_except("lcspr-child"))
    assert await replay_unsandboxed(path) is not None


async def test_the_lcspr_child_is_in_the_parent1_history(monkeypatch: pytest.MonkeyPatch) -> None:
    """The parent1 case started its LCSPR and did not close on the Panel's national review:
    code without the child's branch does not replay it."""
    assert await replay_unsandboxed(LCSPR_CHILD) is None
    without_patch(monkeypatch, "lcspr-child")
    assert await replay_unsandboxed(LCSPR_CHILD) is not None


@pytest.mark.parametrize("path", DISAGREEMENTS, ids=lambda p: p.stem)
async def test_differences_unguarded_fail_older_disagreements(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cases whose DSPs disagreed before the ladder only moved to difference_of_opinion: only
    the patch keeps the difference it now raises (and its target's dates) out of their replay."""
    assert await replay_unsandboxed(path) is None
    monkeypatch.setattr(workflow, "patched", patched_except("differences-of-opinion"))
    assert await replay_unsandboxed(path) is not None


async def test_the_ladder_is_in_the_doo1_history(monkeypatch: pytest.MonkeyPatch) -> None:
    """The doo1 case raised a difference when its DSPs disagreed and dated its levels: code
    without the patch's branch does not replay it."""
    assert await replay_unsandboxed(DIFFERENCES) is None
    without_patch(monkeypatch, "differences-of-opinion")
    assert await replay_unsandboxed(DIFFERENCES) is not None


@pytest.mark.parametrize("path", BEFORE_MAIL, ids=lambda p: p.stem)
async def test_mail_unguarded_fails_older_histories(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cases that reminded, escalated or took the SSLs' recommendation before e-mail existed
    sent none: only the patch, asked at the first e-mail, keeps it out of their replay."""
    assert await replay_unsandboxed(path) is None
    monkeypatch.setattr(workflow, "patched", patched_except("mail"))
    assert await replay_unsandboxed(path) is not None


async def test_mail_and_the_calendar_are_in_the_mail1_history(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    """The mail1 case e-mailed its letters and alerts, counted its deadlines again on a changed
    calendar and made its statutory notices: code without e-mail does not replay it."""
    history = load(MAIL)
    scheduled = {e.activity_task_scheduled_event_attributes.activity_type.name
                 for e in history.events if e.HasField("activity_task_scheduled_event_attributes")}
    assert {"send_letters", "send_alert_mail", "compute_due_dates"} <= scheduled
    assert any(e.HasField("workflow_execution_signaled_event_attributes")
               and e.workflow_execution_signaled_event_attributes.signal_name == "calendar_changed"
               for e in history.events)
    assert await replay_unsandboxed(MAIL) is None
    without_patch(monkeypatch, "mail")
    assert await replay_unsandboxed(MAIL) is not None


def test_the_faults_histories_are_recorded_on_the_serial_and_bounded_code() -> None:
    """The faults1 histories replay above; here, that they are of the code they guard: every
    case ran serialised with bounded projections, and its mail activities heartbeat."""
    assert len(FAULTS) >= 2
    for path in FAULTS:
        assert {"serial-changes", "projection-alert"} <= patch_markers(path), path.name
        history = load(path)
        scheduled = [e.activity_task_scheduled_event_attributes for e in history.events
                     if e.HasField("activity_task_scheduled_event_attributes")]
        mail = [s for s in scheduled
                if s.activity_type.name in ("send_letters", "send_alert_mail")]
        assert mail, path.name
        assert all(s.heartbeat_timeout.ToTimedelta() == timedelta(seconds=20) for s in mail)
        projections = [s for s in scheduled if s.activity_type.name == "project_case"]
        assert all(s.retry_policy.maximum_attempts == 9 for s in projections), path.name


EVENTS_LOGGED = HERE / "mail_notices_and_a_bank_holiday.evlog1.json"


def scheduled_activities(path: Path) -> list[str]:
    return [e.activity_task_scheduled_event_attributes.activity_type.name
            for e in load(path).events if e.HasField("activity_task_scheduled_event_attributes")]


async def test_the_events_are_logged_not_sent_in_the_evlog1_history(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 13: a case under "events-logged" runs no `record_case_event` activity (its events
    reach the store with the projection, and the workflow logs them); the mail1 history of the
    same scenario ran one per event, and code that still sends them does not replay evlog1."""
    assert "events-logged" in patch_markers(EVENTS_LOGGED)
    assert "record_case_event" not in scheduled_activities(EVENTS_LOGGED)
    assert "record_case_event" in scheduled_activities(MAIL)
    assert await replay_unsandboxed(EVENTS_LOGGED) is None
    without_patch(monkeypatch, "events-logged")
    assert await replay_unsandboxed(EVENTS_LOGGED) is not None


OPENING_DATES = HERE / "mail_notices_and_a_bank_holiday.dates1.json"


def local_activities(path: Path) -> list[str]:
    """The local activities a history ran, by type (their markers: the SDK's own JSON)."""
    return [json.loads(e.marker_recorded_event_attributes.details["data"].payloads[0].data)
            ["activity_type"]
            for e in load(path).events if e.HasField("marker_recorded_event_attributes")
            and e.marker_recorded_event_attributes.marker_name == "core_local_activity"]


async def test_the_opening_dates_are_one_request_in_the_dates1_history(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 13: a case under "opening-dates" computes its first clocks' due dates (received,
    and LA aware) in one local activity; the evlog1 history of the same scenario scheduled
    `compute_due_dates` once a clock, and code that still does so does not replay dates1."""
    assert "opening-dates" in patch_markers(OPENING_DATES)
    assert local_activities(OPENING_DATES)[0] == "compute_clocks_due_dates"
    assert scheduled_activities(EVENTS_LOGGED)[:2] == ["compute_due_dates"] * 2
    assert scheduled_activities(OPENING_DATES)[0] != "compute_due_dates"
    assert await replay_unsandboxed(OPENING_DATES) is None
    without_patch(monkeypatch, "opening-dates")
    assert await replay_unsandboxed(OPENING_DATES) is not None


PROJECTION_LOCAL = sorted(HERE.glob("*.local1.json"))


@pytest.mark.parametrize("path", PROJECTION_LOCAL, ids=lambda p: p.stem)
async def test_the_projection_is_a_local_activity_in_the_local1_histories(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 13: a case under "projection-local" writes the case store by a local activity (a
    record answered after one workflow task; the whole case no longer an input kept in the
    history) with the same bounded attempts; code that schedules `project_case` as an activity
    does not replay local1."""
    assert "projection-local" in patch_markers(path)
    assert "project_case" not in scheduled_activities(path)
    assert "project_case" in local_activities(path)
    assert await replay_unsandboxed(path) is None
    without_patch(monkeypatch, "projection-local")
    assert await replay_unsandboxed(path) is not None


CURRENT = sorted(HERE.glob("*.cur1.json"))


@pytest.mark.parametrize("path", CURRENT, ids=lambda p: p.stem)
async def test_a_new_run_takes_every_patch_with_one_marker_in_the_cur1_histories(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 13: a case (and a review request) started under "case-patches-1" takes every
    patch `_since` asks with that one marker (the patches asked directly, at their first
    e-mail, keep theirs); the code each patch brought is run (no `record_case_event`, the
    projection local), and code without the patch, asking each, does not replay it."""
    markers = patch_markers(path)
    assert "case-patches-1" in markers
    assert not markers & {"case-store", "serial-changes", "projection-alert", "events-logged",
                          "projection-local", "quiet-rejections"}, markers
    assert "record_case_event" not in scheduled_activities(path)
    assert "project_case" in local_activities(path)
    assert await replay_unsandboxed(path) is None
    without_patch(monkeypatch, "case-patches-1")
    assert await replay_unsandboxed(path) is not None
