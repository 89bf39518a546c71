"""Masking and keyed hashing of personal data (names, ID and bank-card numbers).

Notices are public: names show as 王*明 and ID numbers keep only the first 3 and last
2 characters. Exact-match search uses a keyed hash, never the number itself.
"""

import hashlib
import hmac
import os

_DEV_KEY = "warmflow-development-hash-key"


def _hash_key() -> bytes:
    return os.environ.get("WARMFLOW_HASH_KEY", _DEV_KEY).encode("utf-8")


def subject_key(id_number: str) -> str:
    normal = id_number.strip().upper()
    return hmac.new(_hash_key(), normal.encode("utf-8"), hashlib.sha256).hexdigest()


def mask_name(name: str) -> str:
    name = (name or "").strip()
    if len(name) <= 1:
        return name or "*"
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def mask_id(id_number: str) -> str:
    value = (id_number or "").strip()
    if len(value) <= 5:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 5) + value[-2:]


def mask_card(card: str) -> str:
    digits = (card or "").replace(" ", "")
    if len(digits) <= 4:
        return "*" * len(digits)
    return "*" * (len(digits) - 4) + digits[-4:]
