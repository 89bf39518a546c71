"""Masking and keyed hashing of personal data (names, ID and bank-card numbers).

Notices are public: names show as 王*明 and ID numbers keep only the first 3 and last
2 characters. Exact-match search uses a keyed hash, never the number itself.
"""

import hashlib
import hmac
import logging
import os
import re
import traceback

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


# --- log lines ---------------------------------------------------------------------------

# A number as people type one into free text: in one run, or in groups of three or more
# digits split by spaces or dashes (5110 0220 0703 0200 1X, 6222-0202-0011-2233-445),
# the last group possibly shorter and ending in X. A date (2026-09-07), a phone number
# (138 0000 0000) or one of warmflow's own references (PF20260907-0001-000001: letters
# first) is not taken for one.
_SEPARATOR = "[ \u00a0\u3000\\-\u2010-\u2015\u2212\uff0d]{1,3}"
LONG_NUMBER = re.compile(
    r"(?<!\d)\d{12,}[\dXx]?"
    rf"|(?<![\dA-Za-z])\d{{3,}}(?:{_SEPARATOR}\d{{3,}})+"
    rf"(?:{_SEPARATOR}?\d{{0,2}}[Xx]|{_SEPARATOR}\d{{1,2}})?(?!\d)"
)
_NOT_DIGIT = re.compile(r"[^\dXx]")


def _mask_number(match: re.Match) -> str:
    number = _NOT_DIGIT.sub("", match.group(0))
    if len(number.rstrip("Xx")) < 12:
        return match.group(0)
    return mask_id(number) if len(number) == 18 else mask_card(number)


def mask_numbers(text: str) -> str:
    """Mask every ID- or card-like number (12 digits or more, however grouped) in free
    text."""
    return LONG_NUMBER.sub(_mask_number, text)


_masking_installed = False


def install_log_masking() -> None:
    """Every log record this process creates has ID and card numbers masked, in its
    message and in any traceback it carries (a database error quotes the statement's
    parameters). Installed once by the web app and the command line."""
    global _masking_installed
    if _masking_installed:
        return
    make_record = logging.getLogRecordFactory()

    def masked_record(*args, **kwargs) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string is the logger's problem
            return record
        record.msg, record.args = mask_numbers(message), None
        if record.exc_info and record.exc_info[0] is not None:
            text = "".join(traceback.format_exception(*record.exc_info))
            record.exc_text = mask_numbers(text.rstrip("\n"))
            record.exc_info = None
        return record

    logging.setLogRecordFactory(masked_record)
    _masking_installed = True
