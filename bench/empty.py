"""A workflow that does nothing, the baseline of bench.round_trips: its start and its Update
are what the Temporal server and the SDK cost on their own."""

from __future__ import annotations

from temporalio import workflow


@workflow.defn(name="BenchEmpty")
class EmptyWorkflow:
    def __init__(self) -> None:
        self.done = False

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: self.done)

    @workflow.update
    def poke(self) -> int:
        return 0

    @workflow.signal
    def finish(self) -> None:
        self.done = True
