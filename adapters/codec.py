"""Payload encryption: every Temporal payload leaves the process as AES-256-GCM ciphertext.

Borrowers' names, numbers and addresses travel in case inputs, activity inputs and results; the
Temporal server (and its database, and anyone reading its history) only ever sees ciphertext. Each
payload names the key that sealed it (`encryption-key-id`), so keys rotate: new payloads use the
first key, old ones still open with theirs. A payload whose key is missing, or that does not
authenticate, fails loudly; nothing is ever passed on undecrypted or silently dropped.

Keys come from configuration (`settings.PayloadKeys`): `PAYLOAD_KEYS="k2:<base64 32 bytes>,k1:<base64
32 bytes>"` (the first seals), or a file with the same content named by `PAYLOAD_KEYS_FILE`.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Sequence
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"


class PayloadKeyError(LookupError):
    """No usable key: the message says which and where keys come from."""


class EncryptionCodec(PayloadCodec):
    def __init__(self, keys: dict[str, bytes], active: str):
        if active not in keys:
            raise PayloadKeyError(f"the active key {active!r} is not among the keys")
        for key_id, key in keys.items():
            if len(key) != 32:
                raise PayloadKeyError(f"key {key_id!r} is {len(key)} bytes; AES-256 needs 32")
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self.active = active

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.seal(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.open(p) for p in payloads]

    def seal(self, payload: Payload) -> Payload:
        nonce = os.urandom(12)
        sealed = self._ciphers[self.active].encrypt(nonce, payload.SerializeToString(), self.active.encode())
        return Payload(metadata={"encoding": ENCODING, KEY_ID: self.active.encode()}, data=nonce + sealed)

    def open(self, payload: Payload) -> Payload:
        """Ciphertext in, the original payload out; anything else (plain JSON the Web UI sends) as is."""
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        key_id = payload.metadata.get(KEY_ID, b"").decode()
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise PayloadKeyError(f"payload sealed with key {key_id!r}, which is not configured (PAYLOAD_KEYS)")
        try:
            plain = cipher.decrypt(payload.data[:12], payload.data[12:], key_id.encode())
        except InvalidTag:
            raise PayloadKeyError(f"payload does not authenticate with key {key_id!r}: wrong key or altered") from None
        return Payload.FromString(plain)


def parse_keys(text: str) -> tuple[dict[str, bytes], str]:
    """`id:base64,id:base64` (or one per line); the first seals."""
    keys: dict[str, bytes] = {}
    for item in text.replace("\n", ",").split(","):
        if not item.strip():
            continue
        key_id, _, encoded = item.strip().partition(":")
        if not key_id or not encoded:
            raise PayloadKeyError("PAYLOAD_KEYS entries are id:base64key, separated by commas")
        keys[key_id] = base64.b64decode(encoded)
    if not keys:
        raise PayloadKeyError("PAYLOAD_KEYS is empty")
    return keys, next(iter(keys))


def new_key_line(key_id: str = "k1") -> str:
    return f"{key_id}:{base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()}"


def load_codec(keys: str | None, keys_file: Path | None = None) -> EncryptionCodec:
    """The codec for the keys given as text (`id:base64,...`), else read from `keys_file`
    (the values come from `settings.PayloadKeys`)."""
    if not keys:
        if keys_file is None:
            raise PayloadKeyError("no payload keys: set PAYLOAD_KEYS or PAYLOAD_KEYS_FILE "
                                  "(make run creates .data/payload-keys)")
        keys = Path(keys_file).read_text()
    return EncryptionCodec(*parse_keys(keys))
