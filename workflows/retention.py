"""The daily retention job, started by a Temporal Schedule (infra.schedules), never by cron."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.retention import RetentionInput, RetentionReport


@workflow.defn(name="Retention")
class RetentionWorkflow:
    @workflow.run
    async def run(self, input: RetentionInput) -> RetentionReport:
        """Anonymise the case store's records past their retention (store.retention)."""
        report: RetentionReport = await workflow.execute_activity(
            "apply_retention", input, result_type=RetentionReport,
            start_to_close_timeout=timedelta(hours=1),
            retry_policy=RetryPolicy(maximum_attempts=5))
        return report
