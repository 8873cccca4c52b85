"""Benchmark, run by hand: what one whole case costs the Temporal server, under time skipping
(issue 13: history sizes, workflow tasks, activities).

    .venv/bin/python -m bench.whole_case [--flowchart-4]

Runs the end-to-end test's serious case (tests/test_end_to_end.py: notification to the MARS
Board's sign-off of the action plan, its LCSPR and action plan as child and grandchild, with a
late publication and an overdue action) on the time-skipping server with the real worker and
the case store, then reads the histories of the case, its LCSPR and its action plan (every run
of each, continued as new included) and prints for each: events, bytes, workflow tasks,
activities by type with their input bytes, and, as the ratio the issue asks for, the share of
the history's bytes that are activity inputs (the case carried to the store). A local
activity (the case's projection since patch "projection-local") leaves a marker with its
result, not its input: its markers are counted apart, as are the patches' markers.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from bench.stack import bench_stack
from tests import test_end_to_end as e2e
from workflows.ids import action_plan_id, local_review_id

E = EventType


@dataclass
class Costs:
    runs: int = 0
    events: int = 0
    bytes: int = 0
    workflow_tasks: int = 0
    activities: Counter[str] = field(default_factory=Counter)
    activity_input_bytes: Counter[str] = field(default_factory=Counter)
    local_activities: int = 0
    marker_bytes: int = 0  # the local activities' markers
    patches: int = 0  # `workflow.patched` markers
    signals: int = 0
    updates: int = 0
    timers: int = 0
    children: int = 0


async def costs(client: Client, workflow_id: str) -> Costs:
    """Every run of the workflow, latest back to its first (continue-as-new's chain)."""
    found = Costs()
    run_id: str | None = None
    while True:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        found.runs += 1
        found.bytes += sum(event.ByteSize() for event in history.events)
        found.events += len(history.events)
        previous = ""
        for event in history.events:
            t = event.event_type
            if t == E.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
                previous = event.workflow_execution_started_event_attributes \
                    .continued_execution_run_id
            elif t == E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
                found.workflow_tasks += 1
            elif t == E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                a = event.activity_task_scheduled_event_attributes
                found.activities[a.activity_type.name] += 1
                found.activity_input_bytes[a.activity_type.name] += a.input.ByteSize()
            elif t == E.EVENT_TYPE_MARKER_RECORDED:
                # A local activity's marker (its result, never its input), or a patch's.
                marker = event.marker_recorded_event_attributes
                if marker.marker_name == "core_local_activity":
                    found.local_activities += 1
                    found.marker_bytes += event.ByteSize()
                else:
                    found.patches += 1
            elif t == E.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
                found.signals += 1
            elif t == E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
                found.updates += 1
            elif t == E.EVENT_TYPE_TIMER_STARTED:
                found.timers += 1
            elif t == E.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
                found.children += 1
        if not previous:
            return found
        run_id = previous


async def main(flowchart_4: bool) -> None:
    async with bench_stack(time_skipping=True) as stack:
        assert stack.worker is not None
        began = time.perf_counter()
        if flowchart_4:
            await e2e.test_a_flowchart_4_request_to_its_sign_off(
                stack.env, stack.worker, stack.http)
        else:
            await e2e.test_a_serious_case_from_notification_to_the_boards_sign_off(
                stack.env, stack.worker, stack.http)
        elapsed = time.perf_counter() - began
        case_id = (await stack.http.get("/v1/cases", params={"limit": 1})).json()[
            "items"][0]["case_id"]
        parts = {"case": case_id, "LCSPR": local_review_id(case_id),
                 "action plan": action_plan_id(case_id)}
        found = {name: await costs(stack.env.client, wid) for name, wid in parts.items()}
    total = Costs()
    for c in found.values():
        total.runs += c.runs
        total.events += c.events
        total.bytes += c.bytes
        total.workflow_tasks += c.workflow_tasks
        total.activities += c.activities
        total.activity_input_bytes += c.activity_input_bytes
        total.local_activities += c.local_activities
        total.marker_bytes += c.marker_bytes
        total.patches += c.patches
        total.signals += c.signals
        total.updates += c.updates
        total.timers += c.timers
    found["whole case"] = total
    print(f"one whole case ({'Flowchart 4 request' if flowchart_4 else 'serious case'}) "
          f"{case_id}, run in {elapsed:.0f} s under time skipping:")
    for name, c in found.items():
        inputs = sum(c.activity_input_bytes.values())
        print(f"  {name:12} {c.runs} run(s), {c.events:4} events, {c.bytes / 1000:6.1f} KB, "
              f"{c.workflow_tasks:3} workflow tasks, {sum(c.activities.values()):3} activities "
              f"(+{c.local_activities} local, {c.marker_bytes / 1000:.1f} KB), "
              f"{c.patches} patch markers, {c.signals} signals, {c.updates} updates, "
              f"{c.timers} timers; activity inputs {inputs / 1000:.1f} KB = "
              f"{100 * inputs / max(1, c.bytes):.0f} % of the history")
    print("  activities of the whole case (count, input KB):")
    for kind, n in total.activities.most_common():
        print(f"    {kind:28} {n:3}  {total.activity_input_bytes[kind] / 1000:7.1f} KB")
    per_task = total.bytes / max(1, total.workflow_tasks)
    per_activity = sum(total.activity_input_bytes.values()) / max(1, sum(total.activities.values()))
    print(f"  per workflow task: {total.events / max(1, total.workflow_tasks):.1f} events, "
          f"{per_task / 1000:.1f} KB; per activity: {per_activity / 1000:.1f} KB of input")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--flowchart-4", action="store_true")
    args = parser.parse_args()
    asyncio.run(main(args.flowchart_4))
