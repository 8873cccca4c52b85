"""The AES-GCM payload codec (design principle 6) and the setting that holds its keys."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from cryptography.exceptions import InvalidTag
from pydantic import ValidationError
from temporalio.api.common.v1 import Payload

from domain.notification import Notification
from infra.codec import ENCODING, EncryptionCodec, new_key_setting, parse_keys
from infra.settings import Settings
from infra.temporal import data_converter

KEY_A = bytes(range(32))
KEY_B = bytes(range(100, 132))
SETTING_A = "A:" + base64.b64encode(KEY_A).decode()
SETTING_B = "B:" + base64.b64encode(KEY_B).decode()
CHILD_REFERENCE = "CHILD-REF-ZX81-7731"


def plain(data: bytes = b'{"reference": "' + CHILD_REFERENCE.encode() + b'"}') -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=data)


async def test_round_trip() -> None:
    codec = EncryptionCodec.from_setting(SETTING_A)
    payloads = [plain(), plain(b"2"), Payload(metadata={"encoding": b"binary/null"})]
    encoded = await codec.encode(payloads)
    assert len(encoded) == 3
    assert await codec.decode(encoded) == payloads


async def test_encoded_payload_hides_the_plaintext_and_names_its_key() -> None:
    codec = EncryptionCodec.from_setting(SETTING_A)
    [encoded] = await codec.encode([plain()])
    assert encoded.metadata["encoding"] == ENCODING == b"binary/encrypted"
    assert encoded.metadata["encryption-key-id"] == b"A"
    assert CHILD_REFERENCE.encode() not in encoded.data
    assert CHILD_REFERENCE.encode() not in encoded.SerializeToString()
    # The original metadata is inside the ciphertext, not beside it.
    assert set(encoded.metadata) == {"encoding", "encryption-key-id"}


async def test_same_payload_encrypts_differently_each_time() -> None:
    codec = EncryptionCodec.from_setting(SETTING_A)
    first, second = await codec.encode([plain(), plain()])
    assert first.data != second.data  # a fresh nonce each time


async def test_a_notification_through_the_data_converter_is_encrypted() -> None:
    converter = data_converter(EncryptionCodec.from_setting(SETTING_A))
    notification = Notification.model_validate({
        "received_at": datetime(2026, 11, 2, 10, tzinfo=UTC),
        "notifying_agency": "Humberside Police",
        "incident": {"date": "2026-11-01", "harm": "death", "abuse_or_neglect": "known",
                     "summary": "Found unresponsive at home"},
        "children": [{"reference": CHILD_REFERENCE, "date_of_birth": "2019-03-04"}],
    })
    [payload] = await converter.encode([notification])
    wire = payload.SerializeToString()
    for secret in (CHILD_REFERENCE, "unresponsive", "2019-03-04", "Humberside"):
        assert secret.encode() not in wire
    [decoded] = await converter.decode([payload], [Notification])
    assert decoded == notification


async def test_rotation_old_payloads_still_decode_and_new_ones_use_the_new_key() -> None:
    old = EncryptionCodec.from_setting(SETTING_A)
    [from_old] = await old.encode([plain()])
    rotated = EncryptionCodec.from_setting(f"{SETTING_B},{SETTING_A}")
    assert list(rotated.key_ids) == ["B", "A"]
    assert await rotated.decode([from_old]) == [plain()]
    [from_new] = await rotated.encode([plain()])
    assert from_new.metadata["encryption-key-id"] == b"B"
    assert await rotated.decode([from_new]) == [plain()]
    # A worker not yet given key B cannot read it.
    with pytest.raises(ValueError, match="no decryption key with id 'B'"):
        await old.decode([from_new])


async def test_unknown_key_id_fails() -> None:
    [encoded] = await EncryptionCodec.from_setting(SETTING_A).encode([plain()])
    with pytest.raises(ValueError, match="no decryption key with id 'A'"):
        await EncryptionCodec.from_setting(SETTING_B).decode([encoded])


async def test_same_id_with_another_key_fails() -> None:
    [encoded] = await EncryptionCodec.from_setting(SETTING_A).encode([plain()])
    impostor = EncryptionCodec([("A", KEY_B)])
    with pytest.raises(InvalidTag):
        await impostor.decode([encoded])


@pytest.mark.parametrize("position", [0, 5, 12, 20, -1], ids=["nonce", "nonce-5", "first-byte",
                                                            "middle", "tag"])
async def test_tampered_ciphertext_fails(position: int) -> None:
    codec = EncryptionCodec.from_setting(SETTING_A)
    [encoded] = await codec.encode([plain()])
    data = bytearray(encoded.data)
    data[position] ^= 0x01
    tampered = Payload(metadata=dict(encoded.metadata), data=bytes(data))
    with pytest.raises(InvalidTag):
        await codec.decode([tampered])


async def test_truncated_ciphertext_fails() -> None:
    codec = EncryptionCodec.from_setting(SETTING_A)
    [encoded] = await codec.encode([plain()])
    truncated = Payload(metadata=dict(encoded.metadata), data=encoded.data[:-1])
    with pytest.raises(InvalidTag):
        await codec.decode([truncated])


async def test_unencrypted_payload_passes_through_decode() -> None:
    codec = EncryptionCodec.from_setting(SETTING_A)
    assert await codec.decode([plain()]) == [plain()]


def test_a_codec_needs_a_key() -> None:
    with pytest.raises(ValueError, match="at least one encryption key"):
        EncryptionCodec([])


# -- the key setting --------------------------------------------------------------------------


def test_parse_keys() -> None:
    assert parse_keys(f"{SETTING_B}, {SETTING_A}") == [("B", KEY_B), ("A", KEY_A)]


def test_new_key_setting_parses() -> None:
    [(key_id, key)] = parse_keys(new_key_setting("k-2026"))
    assert key_id == "k-2026"
    assert len(key) == 32


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        pytest.param("", "key-id:base64-key", id="empty"),
        pytest.param(base64.b64encode(KEY_A).decode(), "key-id:base64-key", id="no-colon"),
        pytest.param(":" + base64.b64encode(KEY_A).decode(), "key-id:base64-key", id="no-id"),
        pytest.param(f"{SETTING_A},", "key-id:base64-key", id="trailing-comma"),
        pytest.param("A:not*base64!", "'A' is not valid base64", id="bad-base64"),
        pytest.param("A:" + base64.b64encode(KEY_A).decode()[:-4], "'A' must be 32 bytes",
                     id="truncated-base64"),
        pytest.param("A:" + base64.b64encode(bytes(16)).decode(), "'A' must be 32 bytes",
                     id="aes-128-key"),
        pytest.param("A:" + base64.b64encode(bytes(33)).decode(), "'A' must be 32 bytes",
                     id="33-bytes"),
        pytest.param(f"{SETTING_B},A:short", "'A'", id="second-key-bad"),
    ],
)
def test_parse_keys_rejects_malformed_settings(setting: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_keys(setting)


def test_a_repeated_key_id_is_refused() -> None:
    # Otherwise the codec would encrypt with the first key but decrypt that id with the last.
    with pytest.raises(ValueError, match="'A'"):
        EncryptionCodec.from_setting(f"A:{base64.b64encode(KEY_B).decode()},{SETTING_A}")


# -- Settings ---------------------------------------------------------------------------------


def test_settings_refuse_to_start_without_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CSPR_ENCRYPTION_KEYS", raising=False)
    with pytest.raises(ValidationError, match="CSPR_ENCRYPTION_KEYS is not set"):
        Settings(encryption_keys="")
    with pytest.raises(ValidationError, match="CSPR_ENCRYPTION_KEYS is not set"):
        Settings()


def test_settings_refuse_a_malformed_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CSPR_ENCRYPTION_KEYS", raising=False)
    with pytest.raises(ValidationError, match="must be 32 bytes"):
        Settings(encryption_keys="A:" + base64.b64encode(bytes(16)).decode())


async def test_settings_read_keys_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CSPR_ENCRYPTION_KEYS", f"{SETTING_B},{SETTING_A}")
    settings = Settings()
    assert list(settings.codec.key_ids) == ["B", "A"]
    [encoded] = await settings.codec.encode([plain()])
    assert encoded.metadata["encryption-key-id"] == b"B"
    assert SETTING_B.split(":")[1] not in repr(settings)
