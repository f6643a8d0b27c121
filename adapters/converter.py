"""The data converter every client, worker and replayer uses: pydantic JSON, with readable errors.

A payload that does not validate (an operator's JSON pasted in the UI, a backend's request) becomes
a non-retryable `ApplicationError` that names each bad field: an update is rejected with that
message and leaves no trace in history; a case started with bad input fails at once, saying why,
instead of retrying its first task forever.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pydantic import ValidationError
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import PydanticJSONPlainPayloadConverter
from temporalio.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    DefaultPayloadConverter,
    JSONPlainPayloadConverter,
    PayloadCodec,
)
from temporalio.exceptions import ApplicationError

from domain.errors import explain


class ValidatingJSONConverter(PydanticJSONPlainPayloadConverter):
    def from_payload(self, payload: Payload, type_hint: type | None = None) -> Any:
        try:
            return super().from_payload(payload, type_hint)
        except ValidationError as e:
            name = getattr(type_hint, "__name__", "input")
            raise ApplicationError(f"invalid {name}: {explain(e)}", type="InvalidInput", non_retryable=True) from e


class CasePayloadConverter(CompositePayloadConverter):
    def __init__(self) -> None:
        json = ValidatingJSONConverter()
        super().__init__(*(
            json if isinstance(c, JSONPlainPayloadConverter) else c
            for c in DefaultPayloadConverter.default_encoding_payload_converters
        ))


data_converter = DataConverter(payload_converter_class=CasePayloadConverter)


def encrypted(codec: PayloadCodec) -> DataConverter:
    """The converter with payload encryption: what every client, worker and replayer uses. Failure
    messages and stack traces are moved into an encoded attribute, so they are sealed too."""
    return dataclasses.replace(data_converter, payload_codec=codec,
                               failure_converter_class=DefaultFailureConverterWithEncodedAttributes)
