"""Operators as HQ keeps them: creating, disabling, granting, revoking, a new password,
and the feed entry that carries an operator to their branch.

Rules:
1. A login is unique across the chain, case-insensitively (a cashier types it), and
   never changes; an operator is known everywhere by an id HQ mints.
2. A branch role names its branch and an HQ role none (protocol.access rule 3); the
   branch need not have enrolled yet: its first feed carries its operators.
3. Every change makes a new version; a branch keeps the highest version it was sent,
   so changes applied out of order end the same.
4. A branch receives only its own operators (and, once disabled, the disable), with
   the permissions HQ computed: a branch never decides a role's rights by itself.
5. Disabling ends the operator's sessions at HQ at once and at a branch as soon as the
   branch applies the change from its feed. Until then the branch cannot know, and a
   disabled operator can still log in there: that is the price of tills that work with
   HQ down, and why a branch that cannot reach HQ is shown offline at HQ.

Pure: records in, records out. The store writes them (HQStore.put_operator) and
hq.service runs the log-ins.
"""

from __future__ import annotations

import dataclasses
import re

from hq.errors import InvalidMasterData
from hq.master_data import MAX_NAME_CHARS
from hq.storage.base import FeedChange, OperatorRecord
from protocol import access
from protocol.codec import check_branch_code
from protocol.errors import MalformedMessage
from protocol.limits import LOGIN_PATTERN, MAX_LOGIN_CHARS

_LOGIN = re.compile(LOGIN_PATTERN)


def check_login(login: object) -> str:
    if not isinstance(login, str) or len(login) > MAX_LOGIN_CHARS or not _LOGIN.fullmatch(login):
        raise InvalidMasterData(
            f"a login is 1 to {MAX_LOGIN_CHARS} letters, digits, '.', '-' or '_',"
            " starting with a letter or digit"
        )
    return login


def new_operator(
    *,
    operator_id: str,
    login: str,
    name: str | None,
    role: str,
    branch: str | None,
    password_hash: str,
    now_ms: int,
) -> OperatorRecord:
    check_login(login)
    if branch is not None:
        check_branch_code(branch)
    try:
        access.check_role(role, branch)
    except MalformedMessage as refused:
        raise InvalidMasterData(str(refused)) from None
    display = login if name is None else name
    if not display or len(display) > MAX_NAME_CHARS or not display.isprintable():
        raise InvalidMasterData(f"a name is 1 to {MAX_NAME_CHARS} printable characters")
    return OperatorRecord(operator_id, login, display, role, branch, password_hash, (), (), False, 1, now_ms)


def _next(record: OperatorRecord, now_ms: int, **changes: object) -> OperatorRecord:
    return dataclasses.replace(record, version=record.version + 1, changed_at_ms=now_ms, **changes)  # type: ignore[arg-type]


def disabled(record: OperatorRecord, now_ms: int, *, disable: bool = True) -> OperatorRecord:
    return _next(record, now_ms, disabled=disable)


def granted(record: OperatorRecord, permission: str, now_ms: int) -> OperatorRecord:
    """The permission added to what the role gives (and no longer revoked)."""
    _check(permission)
    grants = record.grants if permission in record.grants else (*record.grants, permission)
    revokes = tuple(p for p in record.revokes if p != permission)
    if permission in access.ROLE_PERMISSIONS[record.role]:
        grants = tuple(p for p in grants if p != permission)  # the role gives it already
    return _next(record, now_ms, grants=tuple(sorted(grants)), revokes=revokes)


def revoked(record: OperatorRecord, permission: str, now_ms: int) -> OperatorRecord:
    """The permission taken away, whether the role or a grant gave it."""
    _check(permission)
    grants = tuple(p for p in record.grants if p != permission)
    revokes = record.revokes
    if permission in access.ROLE_PERMISSIONS[record.role] and permission not in revokes:
        revokes = tuple(sorted((*revokes, permission)))
    return _next(record, now_ms, grants=grants, revokes=revokes)


def with_password(record: OperatorRecord, password_hash: str, now_ms: int) -> OperatorRecord:
    return _next(record, now_ms, password_hash=password_hash)


def permissions(record: OperatorRecord) -> frozenset[str]:
    return access.effective(record.role, record.grants, record.revokes)


def actor(record: OperatorRecord) -> access.Actor:
    return access.Actor(record.id, record.login, record.role, record.branch, permissions(record))


def operator_change(record: OperatorRecord) -> FeedChange:
    """The feed entry carrying a branch operator to their branch (rule 4)."""
    if record.branch is None:
        raise ValueError("only a branch's own operators travel to it")
    return FeedChange(
        "operator",
        record.id,
        "upsert",
        {
            "id": record.id,
            "login": record.login,
            "name": record.name,
            "role": record.role,
            "branch": record.branch,
            "password_hash": record.password_hash,
            "permissions": sorted(permissions(record)),
            "disabled": record.disabled,
            "version": record.version,
        },
    )


def as_json(record: OperatorRecord) -> dict[str, object]:
    """What an operator listing shows: never the hash."""
    return {
        "id": record.id,
        "login": record.login,
        "name": record.name,
        "role": record.role,
        "branch": record.branch,
        "grants": list(record.grants),
        "revokes": list(record.revokes),
        "permissions": sorted(permissions(record)),
        "disabled": record.disabled,
        "version": record.version,
        "changed_at_ms": record.changed_at_ms,
    }


def _check(permission: str) -> None:
    try:
        access.check_permission(permission)
    except MalformedMessage as refused:
        raise InvalidMasterData(str(refused)) from None
