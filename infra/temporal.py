"""The Temporal client every process uses: pydantic payloads, encrypted by our codec.

Failures too: an exception's message and stack trace (a database error quoting its SQL
parameters, a case snapshot) go through the codec (`DefaultFailureConverterWithEncodedAttributes`),
so Temporal's history and UI never hold them in clear. Only the error's type stays readable.
"""

from __future__ import annotations

import dataclasses

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
)

from infra.settings import Settings


def data_converter(codec: PayloadCodec) -> DataConverter:
    return dataclasses.replace(pydantic_data_converter, payload_codec=codec,
                               failure_converter_class=DefaultFailureConverterWithEncodedAttributes)


async def connect(settings: Settings, lazy: bool = False) -> Client:
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(settings.codec),
        lazy=lazy,
    )
