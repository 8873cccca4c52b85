"""Health check of a worker container: its worker is polling the task queue for workflow tasks.

docker-compose.yml runs `python deploy/worker_healthcheck.py` in the worker's container, with the
worker's own configuration (CSPR_*). Exit status 0 when healthy, 1 when not, with the reason on
stderr.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from datetime import timedelta
from typing import NoReturn

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from infra.settings import Settings

TIMEOUT = timedelta(seconds=5)


async def polling(client: Client, task_queue: str, host: str) -> bool:
    """True if a worker running on `host` polls `task_queue` for workflow tasks."""
    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        ),
        timeout=TIMEOUT,
    )
    # The SDK's default identity is "<pid>@<hostname>", and each container has a hostname of its
    # own: another replica's pollers do not make this one healthy.
    return any(poller.identity.endswith(f"@{host}") for poller in response.pollers)


async def check(settings: Settings) -> str | None:
    """None if healthy, else why not."""
    try:
        client = await Client.connect(settings.temporal_address,
                                      namespace=settings.temporal_namespace)
        if await polling(client, settings.task_queue, socket.gethostname()):
            return None
    except Exception as e:  # any failure to ask Temporal is unhealthy, and said so
        return f"cannot ask Temporal at {settings.temporal_address}: {e}"
    return f"no worker of this container polls task queue {settings.task_queue!r}"


def main() -> int:
    reason = asyncio.run(check(Settings()))
    if reason is not None:
        sys.stderr.write(f"unhealthy: {reason}\n")
        return 1
    return 0


def exit_now(code: int) -> NoReturn:
    """Exit without interpreter finalisation: the Temporal SDK's core threads can abort the
    process while Python shuts down (SIGABRT, "PyGILState_Release"), turning a healthy check
    into a failed one."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    exit_now(main())
