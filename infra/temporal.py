"""The Temporal client every process uses: pydantic payloads, encrypted by our codec."""

from __future__ import annotations

import dataclasses

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, PayloadCodec

from infra.settings import Settings


def data_converter(codec: PayloadCodec) -> DataConverter:
    return dataclasses.replace(pydantic_data_converter, payload_codec=codec)


async def connect(settings: Settings, lazy: bool = False) -> Client:
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(settings.codec),
        lazy=lazy,
    )
