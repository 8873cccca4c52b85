"""The Temporal client every process uses: pydantic payloads, encrypted by our codec."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence

from temporalio.client import Client, Interceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, PayloadCodec
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)

from infra.settings import Settings


def data_converter(codec: PayloadCodec) -> DataConverter:
    return dataclasses.replace(pydantic_data_converter, payload_codec=codec)


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
