"""Validation of till input: each check names the field and the rule it broke."""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from typing import Any

from node.errors import InvalidRequest
from protocol import limits
from protocol.contract.fields import GENDERS

# Matched whole (fullmatch): "$" would let a trailing newline through, and
# "13800138000\n" would register a second member beside 13800138000.
_PHONE = re.compile(r"\+?[0-9]{5,20}")
# Ten million yuan (protocol.limits, which the wire contract bounds amounts by).
MAX_AMOUNT_FEN = limits.MAX_AMOUNT_FEN
# A till's Idempotency-Key: a UUID or a till-and-counter label fits well within it.
MAX_REQUEST_KEY_CHARS = 64
# A count in a query string (a page size) has at most this many digits.
MAX_QUERY_DIGITS = 9


def text(body: dict[str, Any], name: str, *, max_chars: int = 64, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise InvalidRequest(f"{name} is required")
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > max_chars:
        raise InvalidRequest(f"{name} must be a non-empty string of at most {max_chars} characters")
    return value.strip()


def phone(value: Any, name: str = "phone") -> str:
    if not isinstance(value, str) or not _PHONE.fullmatch(value):
        raise InvalidRequest(f"{name} must be 5 to 20 digits, optionally starting with +")
    return value


def birthday(value: Any) -> str | None:
    if value is None:
        return None
    try:
        if not isinstance(value, str):
            raise ValueError
        day = datetime.date.fromisoformat(value)
    except ValueError:
        raise InvalidRequest("birthday must be a date as YYYY-MM-DD") from None
    if day > datetime.date.today() or day.year < 1900:
        raise InvalidRequest("birthday must be between 1900 and today")
    return day.isoformat()


# -- the optional profile fields: each may be null, which clears it -----------------------

# A control character in a one-line field (a newline in a car plate) is a scanner's or
# a paste's stray byte, never part of the value; notes keep their tabs and line breaks.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_NOTE_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
# An employee's code until employees' master data gives codes their shape: what a
# clerk types from a badge, letters and digits with ".", "_" or "-" between.
_EMPLOYEE_CODE = re.compile(rf"[A-Za-z0-9][A-Za-z0-9_.-]{{0,{limits.MAX_EMPLOYEE_CODE_CHARS - 1}}}")
_MEMBER_ID = re.compile(rf"[^\s\x00-\x1f\x7f]{{1,{limits.MAX_NAME_CHARS}}}")


def gender(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or value not in GENDERS:
        raise InvalidRequest(f"gender must be one of {', '.join(GENDERS)}, or null")
    return value


def line(value: Any, name: str, max_chars: int) -> str | None:
    """One line of text (an address, a region, a car plate), trimmed."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if 0 < len(text) <= max_chars and not _CONTROL.search(text):
            return text
    raise InvalidRequest(f"{name} must be one line of 1 to {max_chars} characters, or null")


def car_plate(value: Any) -> str | None:
    """A licence plate in capitals, as it is painted ("粤b 12345" is "粤B 12345")."""
    return line(value.upper() if isinstance(value, str) else value, "car_plate", limits.MAX_CAR_PLATE_CHARS)


def note(value: Any, name: str, max_chars: int) -> str | None:
    """Free text over several lines, trimmed, its line breaks as newlines."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.replace("\r\n", "\n").strip()
        if 0 < len(text) <= max_chars and not _NOTE_CONTROL.search(text):
            return text
    raise InvalidRequest(f"{name} must be text of 1 to {max_chars} characters, or null")


def employee_code(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _EMPLOYEE_CODE.fullmatch(value):
        raise InvalidRequest(
            f"{name} must be an employee code: 1 to {limits.MAX_EMPLOYEE_CODE_CHARS} letters or digits,"
            " with '.', '_' or '-' between, or null"
        )
    return value


def member_id(value: Any, name: str) -> str | None:
    """A member's id as this node's lookups give it (whether the member is known is the
    service's to check)."""
    if value is None:
        return None
    if not isinstance(value, str) or not _MEMBER_ID.fullmatch(value):
        raise InvalidRequest(
            f"{name} must be a member id of 1 to {limits.MAX_NAME_CHARS} characters, or null"
        )
    return value


def photo(value: Any) -> None:
    """A member's photo is set by uploading it (PUT /api/members/{id}/photo), which
    keeps its bytes and names them; an edit may only remove it (null)."""
    if value is not None:
        raise InvalidRequest(
            "photo is set by uploading the image: PUT /api/members/{id}/photo with the image as the"
            " body; an edit may only remove it (photo: null)"
        )
    return None


def integer(value: Any, name: str, *, minimum: int, maximum: int) -> int:
    # bool is an int in Python and floats are not money: both are refused.
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidRequest(f"{name} must be an integer")
    if not minimum <= value <= maximum:
        raise InvalidRequest(f"{name} must be between {minimum} and {maximum}")
    return value


def amount_fen(value: Any, name: str) -> int:
    return integer(value, name, minimum=0, maximum=MAX_AMOUNT_FEN)


def items(value: Any, name: str, *, maximum: int) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value or len(value) > maximum:
        raise InvalidRequest(f"{name} must be a list of 1 to {maximum} objects")
    if not all(isinstance(item, dict) for item in value):
        raise InvalidRequest(f"every item of {name} must be an object")
    return value


_CARD = re.compile(r"[0-9A-Za-z-]{4,40}")


def card_number(value: Any, name: str = "card") -> str:
    if not isinstance(value, str) or not _CARD.fullmatch(value):
        raise InvalidRequest(f"{name} must be 4 to 40 letters, digits or dashes")
    return value


def request_key(value: str | None) -> str | None:
    """A till's Idempotency-Key (a retried POST with it books once), if it sent one."""
    if value is not None and not 0 < len(value) <= MAX_REQUEST_KEY_CHARS:
        raise InvalidRequest(f"Idempotency-Key must be 1 to {MAX_REQUEST_KEY_CHARS} characters")
    return value


def query_count(query: Mapping[str, str], name: str, default: int, maximum: int) -> int:
    """A positive whole number from the query string (ASCII digits only)."""
    raw = query.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or len(raw) > MAX_QUERY_DIGITS or not 1 <= int(raw) <= maximum:
        raise InvalidRequest(f"{name} must be a whole number from 1 to {maximum}")
    return int(raw)
