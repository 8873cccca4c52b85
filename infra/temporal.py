"""The Temporal client every process uses: pydantic payloads, encrypted by our codec.

Failures too: an exception's message and stack trace (a database error quoting its SQL
parameters, a case snapshot) go through the codec (`DefaultFailureConverterWithEncodedAttributes`),
so Temporal's history and UI never hold them in clear. Only the error's type stays readable.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from datetime import timedelta

from google.protobuf.duration_pb2 import Duration
from temporalio.api.namespace.v1 import NamespaceConfig
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, UpdateNamespaceRequest
from temporalio.client import Client, Interceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
)
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)
from temporalio.service import RPCError

from infra.settings import Settings


def data_converter(codec: PayloadCodec) -> DataConverter:
    return dataclasses.replace(pydantic_data_converter, payload_codec=codec,
                               failure_converter_class=DefaultFailureConverterWithEncodedAttributes)


def worker_runtime(settings: Settings) -> Runtime:
    """The SDK's runtime for the worker: its metrics (pollers, task latencies, activity
    failures) on a Prometheus endpoint of their own when CSPR_WORKER_SDK_METRICS_PORT is set,
    and the SDK core's warnings through Python's logging, so they are JSON lines too."""
    port = settings.worker_sdk_metrics_port
    return Runtime(telemetry=TelemetryConfig(
        metrics=PrometheusConfig(bind_address=f"{settings.metrics_host}:{port}",
                                 counters_total_suffix=True, durations_as_seconds=True)
        if port else None,
        logging=LoggingConfig(
            filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
            forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core"),
                                           append_log_fields_to_message=False)),
    ))


async def connect(settings: Settings, lazy: bool = False, runtime: Runtime | None = None,
                  interceptors: Sequence[Interceptor] = ()) -> Client:
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(settings.codec),
        lazy=lazy,
        runtime=runtime,
        interceptors=interceptors,
    )


log = logging.getLogger("cspr.temporal")


async def namespace_retention(client: Client, namespace: str | None = None) -> timedelta:
    """How long the namespace keeps a closed workflow's history."""
    described = await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace=namespace or client.namespace))
    return described.config.workflow_execution_retention_ttl.ToTimedelta()


async def set_namespace_retention(client: Client, days: int,
                                  namespace: str | None = None) -> timedelta:
    """Set the namespace's retention to `days` (if it is not already); returns the old one.
    For `make run`'s dev server: in production the namespace's retention is an operator's
    (deploy/temporal-namespace.sh, Temporal Cloud's tcld, the Helm chart's namespace job)."""
    name = namespace or client.namespace
    before = await namespace_retention(client, name)
    if before != timedelta(days=days):
        await client.workflow_service.update_namespace(UpdateNamespaceRequest(
            namespace=name,
            config=NamespaceConfig(workflow_execution_retention_ttl=Duration(
                seconds=days * 86400))))
    return before


async def check_namespace_retention(client: Client, days: int) -> timedelta | None:
    """The worker's check at start: the namespace's retention, logged, with a warning if it is
    not the configured CSPR_TEMPORAL_RETENTION_DAYS (the worker does not change it: that needs
    an operator's rights). None if the namespace cannot be described (the worker starts anyway:
    it polls, and Temporal will say what is wrong)."""
    try:
        retention = await namespace_retention(client)
    except RPCError as e:
        log.warning("namespace %s: retention not read (%s)", client.namespace, e.status.name)
        return None
    if retention != timedelta(days=days):
        log.warning("namespace %s keeps closed workflows for %s, not the %d days configured "
                    "(CSPR_TEMPORAL_RETENTION_DAYS): reconcile after a restore recovers only what "
                    "closed within the namespace's retention", client.namespace, retention, days)
    else:
        log.info("namespace %s keeps closed workflows for %d days", client.namespace, days)
    return retention
