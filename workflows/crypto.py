"""Personal numbers encrypted at rest: AES-256-GCM with a key from the environment.

What is encrypted:
- every workflow state (`process_instance.state`), which holds the application's ID and
  bank-card numbers as the diagram's data;
- the bank-card columns (`payment`, `payment_line`, `hardship_record`), through the
  `EncryptedString` column type.
Exact-match search never needs the number: `case.subject_key` is a keyed hash
(workflows/privacy.py).

The key is `WARMFLOW_ENCRYPTION_KEY`: 32 bytes, base64 (`warmflow gen-key` prints one).
Without it a fixed development key is used and a warning is logged once: fine for
`make run` and tests, never for production. Values written before encryption was
introduced (no prefix) are still read; the 0006 migration encrypts them.
"""

import base64
import binascii
import logging
import os
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import String
from sqlalchemy.types import TypeDecorator

log = logging.getLogger(__name__)

# Marks an encrypted blob (state) and an encrypted text value (columns).
BLOB_MAGIC = b"WFE1"
TEXT_PREFIX = "enc1:"
_DEV_KEY = base64.b64encode(b"warmflow-development-key-32bytes").decode()
_ciphers: dict[str, AESGCM] = {}
_warned = False


class KeyError_(RuntimeError):
    """The configured key is unusable (not 32 bytes of base64)."""


def new_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def _cipher() -> AESGCM:
    global _warned
    configured = os.environ.get("WARMFLOW_ENCRYPTION_KEY", "")
    text = configured or _DEV_KEY
    cipher = _ciphers.get(text)
    if cipher is None:
        try:
            key = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise KeyError_("WARMFLOW_ENCRYPTION_KEY 应为 32 字节密钥的 base64 编码") from None
        if len(key) != 32:
            raise KeyError_("WARMFLOW_ENCRYPTION_KEY 应为 32 字节密钥的 base64 编码")
        cipher = _ciphers[text] = AESGCM(key)
        if not configured and not _warned:
            _warned = True
            log.warning("WARMFLOW_ENCRYPTION_KEY is not set: using the development key")
    return cipher


def encrypt_bytes(data: bytes) -> bytes:
    nonce = secrets.token_bytes(12)
    return BLOB_MAGIC + nonce + _cipher().encrypt(nonce, data, BLOB_MAGIC)


def decrypt_bytes(blob: bytes) -> bytes:
    """The plain bytes of an encrypted blob; a blob without the marker is returned as it
    is (written before encryption was introduced)."""
    blob = bytes(blob)
    if not blob.startswith(BLOB_MAGIC):
        return blob
    nonce, body = blob[4:16], blob[16:]
    try:
        return _cipher().decrypt(nonce, body, BLOB_MAGIC)
    except InvalidTag:
        raise KeyError_("无法解密数据：加密密钥与写入时不同") from None


def is_encrypted_blob(blob: bytes | None) -> bool:
    return bool(blob) and bytes(blob).startswith(BLOB_MAGIC)


def encrypt_text(value: str) -> str:
    nonce = secrets.token_bytes(12)
    sealed = _cipher().encrypt(nonce, value.encode("utf-8"), None)
    return TEXT_PREFIX + base64.b64encode(nonce + sealed).decode("ascii")


def decrypt_text(value: str) -> str:
    if not value.startswith(TEXT_PREFIX):
        return value
    raw = base64.b64decode(value[len(TEXT_PREFIX) :])
    try:
        return _cipher().decrypt(raw[:12], raw[12:], None).decode("utf-8")
    except InvalidTag:
        raise KeyError_("无法解密数据：加密密钥与写入时不同") from None


class EncryptedString(TypeDecorator):
    """A text column stored encrypted (a fresh nonce each write: equal values do not
    look equal in the database, so it cannot be searched; use a keyed hash for that).
    The empty string stays empty."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None or value == "":
            return value
        return encrypt_text(str(value))

    def process_result_value(self, value, dialect):
        if value is None or value == "":
            return value
        return decrypt_text(value)
