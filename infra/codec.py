"""AES-GCM encryption of every payload sent to Temporal, with the key id in the metadata.

After the encryption sample in samples-python. Keys rotate by adding a new key first in the
setting: new payloads use it, old ones still decrypt with the key their metadata names.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterable, Sequence

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

ENCODING = b"binary/encrypted"
_NONCE_BYTES = 12


def parse_keys(setting: str) -> list[tuple[str, bytes]]:
    """Parse "id:base64key,id2:base64key2"; the first is the key that encrypts."""
    keys: list[tuple[str, bytes]] = []
    for item in setting.split(","):
        key_id, sep, encoded = item.strip().partition(":")
        if not sep or not key_id:
            raise ValueError("encryption key must be written key-id:base64-key")
        try:
            key = base64.b64decode(encoded, validate=True)
        except ValueError:
            raise ValueError(f"encryption key {key_id!r} is not valid base64") from None
        if len(key) != 32:
            raise ValueError(f"encryption key {key_id!r} must be 32 bytes (AES-256)")
        if key_id in (k for k, _ in keys):
            raise ValueError(f"encryption key id {key_id!r} is given twice")
        keys.append((key_id, key))
    return keys


def new_key_setting(key_id: str) -> str:
    return f"{key_id}:{base64.b64encode(os.urandom(32)).decode()}"


class EncryptionCodec(PayloadCodec):
    def __init__(self, keys: Sequence[tuple[str, bytes]]) -> None:
        if not keys:
            raise ValueError("at least one encryption key is needed")
        self._key_id, key = keys[0]
        self._encryptor = AESGCM(key)
        self._decryptors = {key_id: AESGCM(k) for key_id, k in keys}

    @classmethod
    def from_setting(cls, setting: str) -> EncryptionCodec:
        return cls(parse_keys(setting))

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [
            Payload(
                metadata={"encoding": ENCODING, "encryption-key-id": self._key_id.encode()},
                data=self._encrypt(p.SerializeToString()),
            )
            for p in payloads
        ]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self._decode_one(p) for p in payloads]

    def _decode_one(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        key_id = payload.metadata.get("encryption-key-id", b"").decode()
        decryptor = self._decryptors.get(key_id)
        if decryptor is None:
            raise ValueError(f"no decryption key with id {key_id!r}")
        data = payload.data
        plain = decryptor.decrypt(data[:_NONCE_BYTES], data[_NONCE_BYTES:], None)
        decoded = Payload()
        decoded.ParseFromString(plain)
        return decoded

    def _encrypt(self, data: bytes) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + self._encryptor.encrypt(nonce, data, None)

    @property
    def key_ids(self) -> Iterable[str]:
        return self._decryptors.keys()
