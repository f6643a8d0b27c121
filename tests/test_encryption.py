"""Personal data in Temporal payloads: ciphertext on the server, readable only with the key."""

from __future__ import annotations

import base64
import json
import threading

import httpx
import pytest
from temporalio.api.common.v1 import Payload
from temporalio.client import Client

from adapters.codec import EncryptionCodec, PayloadKeyError, new_key_line, parse_keys
from adapters.converter import data_converter
from tests import factories
from workflows.case import OverdueCase

SECRETS = [b"Test Borrower", b"13800138050", b"Test Road", b"Test Contact", b"13900139050"]


async def raw_history_bytes(client: Client, workflow_id: str) -> bytes:
    """The history as the server stores it, fetched without any codec."""
    plain = Client(client.service_client, namespace=client.namespace, data_converter=data_converter)
    history = await plain.get_workflow_handle(workflow_id).fetch_history()
    return b"".join(e.SerializeToString() for e in history.events)  # payload bytes exactly as stored


async def test_the_server_holds_no_personal_data_and_the_key_reads_it_all(cases):
    handle = await cases.start(mobile=factories.ANSWERS)
    await cases.until(handle, lambda s: s.contact_counts.get("sms", 0) >= 1, what="first SMS")
    stored = await raw_history_bytes(cases.client, handle.id)
    leaks = [s for s in SECRETS if s in stored]
    assert leaks == [], f"personal data in the server's history: {leaks}"
    assert b"binary/encrypted" in stored and b"reminder" not in stored  # sealed: even template names

    decoded = await handle.fetch_history()  # with the codec
    started = decoded.events[0].workflow_execution_started_event_attributes.input.payloads[0]
    case_input = json.loads((await cases.client.data_converter.payload_codec.decode([started]))[0].data)
    assert case_input["borrower"]["name"] == "Test Borrower"
    assert (await handle.query(OverdueCase.status)).stage.value == "remote_contact"


async def test_a_wrong_or_missing_key_fails_loudly(converter):
    sealed = (await converter.payload_codec.encode([Payload(metadata={"encoding": b"json/plain"},
                                                            data=b'{"name": "Test Borrower"}')]))[0]
    stranger = EncryptionCodec(*parse_keys(new_key_line("test-2")))  # same id, another key
    with pytest.raises(PayloadKeyError, match="does not authenticate"):
        await stranger.decode([sealed])
    with pytest.raises(PayloadKeyError, match="not configured"):
        await EncryptionCodec(*parse_keys(new_key_line("other"))).decode([sealed])


async def test_old_payloads_open_after_the_key_rotates(payload_keys):
    old_line = payload_keys.split(",")[0]
    old = EncryptionCodec(*parse_keys(old_line))
    sealed = (await old.encode([Payload(metadata={"encoding": b"json/plain"}, data=b"42")]))[0]
    rotated = EncryptionCodec(*parse_keys(new_key_line("next") + "," + old_line))
    assert rotated.active == "next"
    assert (await rotated.decode([sealed]))[0].data == b"42"
    assert (await rotated.encode([sealed]))[0].metadata["encryption-key-id"] == b"next"


@pytest.fixture
def codec_server(payload_keys, monkeypatch):
    import codec_server

    monkeypatch.setenv("PAYLOAD_KEYS", payload_keys)
    monkeypatch.setenv("CODEC_TOKEN", "t0ken")
    server = codec_server.serve(0, {"http://127.0.0.1:8233"})
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


async def test_the_codec_server_decodes_for_the_ui_origin_only_with_the_token(codec_server, converter):
    sealed = (await converter.payload_codec.encode([Payload(metadata={"encoding": b"json/plain"},
                                                            data=b'"Test Borrower"')]))[0]
    body = {"payloads": [{"metadata": {k: base64.b64encode(v).decode() for k, v in sealed.metadata.items()},
                          "data": base64.b64encode(sealed.data).decode()}]}
    ui = {"Origin": "http://127.0.0.1:8233", "X-Namespace": "default"}
    async with httpx.AsyncClient(base_url=codec_server) as http:
        preflight = await http.options("/decode", headers=ui | {"Access-Control-Request-Method": "POST"})
        assert preflight.headers["access-control-allow-origin"] == "http://127.0.0.1:8233"
        assert (await http.post("/decode", json=body, headers=ui)).status_code == 401
        answer = await http.post("/decode?preserveStorageRefs=true", json=body,  # as the UI calls it
                                 headers=ui | {"Authorization": "Bearer t0ken"})
        assert answer.status_code == 200 and answer.headers["access-control-allow-origin"] == ui["Origin"]
        assert base64.b64decode(answer.json()["payloads"][0]["data"]) == b'"Test Borrower"'
        elsewhere = await http.post("/decode", json=body, headers={"Origin": "http://evil.example",
                                                                   "Authorization": "Bearer t0ken"})
        assert "access-control-allow-origin" not in elsewhere.headers
        plain = {"payloads": [{"metadata": {"encoding": base64.b64encode(b"json/plain").decode()},
                               "data": base64.b64encode(b"1").decode()}]}
        passed = await http.post("/decode", json=plain, headers=ui | {"Authorization": "Bearer t0ken"})
        assert passed.json() == plain  # what it does not know passes through
        bad = await http.post("/decode", content=b"not json", headers=ui | {"Authorization": "Bearer t0ken"})
        assert bad.status_code == 400


async def test_failure_messages_are_sealed_too(converter):
    from temporalio.api.failure.v1 import Failure
    from temporalio.exceptions import ApplicationError

    failure = Failure()
    await converter.encode_failure(ApplicationError("could not reach Test Borrower at 13800138050"), failure)
    assert b"Test Borrower" not in failure.SerializeToString() and failure.message == "Encoded failure"
    decoded = await converter.decode_failure(failure)
    assert "Test Borrower" in str(decoded)
