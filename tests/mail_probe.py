"""A workflow that sends a step's letters as the case workflow would: the activity by name,
with the retry policy recommended for it (activities/mail.py, RETRY_POLICY).

In a module of its own: the sandbox re-imports a workflow's module.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.mail import (
        HEARTBEAT_TIMEOUT,
        MAIL_TIMEOUT,
        RETRY_POLICY,
        SendLettersInput,
        SendLettersResult,
    )


@workflow.defn(name="MailProbe")
class MailProbe:
    @workflow.run
    async def run(self, input: SendLettersInput) -> SendLettersResult:
        result: SendLettersResult = await workflow.execute_activity(
            "send_letters", input, result_type=SendLettersResult,
            start_to_close_timeout=MAIL_TIMEOUT, heartbeat_timeout=HEARTBEAT_TIMEOUT,
            retry_policy=RETRY_POLICY)
        return result
