"""Employees on the wire (FEATURES B4): the code a salesperson is known by, as a sale,
a registration or a card sale names them, and the employee HQ publishes in the feed."""

from __future__ import annotations

from protocol.contract.entry_type import EntryType, Writer
from protocol.contract.fields import BRANCH, MASTER_NAME, MASTER_TEXT
from protocol.limits import MAX_EMPLOYEE_CODE_CHARS
from protocol.schema import Bool, Map, Text

# What a clerk types from a badge: letters and digits, with ".", "_" or "-" after the
# first (node.services.fields.employee_code reads a till's input by the same rule).
EMPLOYEE_CODE_PATTERN = rf"[A-Za-z0-9][A-Za-z0-9_.-]{{0,{MAX_EMPLOYEE_CODE_CHARS - 1}}}"
EMPLOYEE_CODE = Text(MAX_EMPLOYEE_CODE_CHARS, 1, EMPLOYEE_CODE_PATTERN)

EMPLOYEE_UPSERT = EntryType(
    "employee",
    "upsert",
    Writer.HQ,
    Map(
        {"code": EMPLOYEE_CODE, "name": MASTER_NAME, "branch": BRANCH},
        {"title": MASTER_TEXT, "active": Bool()},
    ),
    "an employee as HQ now holds them: the branch they work at, their title, whether active",
)
