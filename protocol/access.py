"""Who may do what: roles, per-module permissions and an operator's own grants.

Rules:
1. A permission is a module and an action (`stocktake:add`). The actions are the
   five of FEATURES S1: view, add, edit, delete, export.
2. Every operator has one role. A role is a fixed set of permissions (ROLE_PERMISSIONS);
   HQ can grant an operator permissions beyond the role and revoke ones of the role,
   each separately. What an operator may do is the role's set, plus grants, minus
   revokes, computed here and nowhere else.
3. HQ roles work at HQ and see every branch's figures. Branch roles belong to one
   branch: they log in at that branch's node (and at HQ, for the shared member data
   and their own store's figures), and never see another store's business data (C4).
   Member data is shared by all branches.
4. Every route of node and HQ declares a Policy next to its handler: public, signed
   by a node's key, or one permission (optionally of store business data). The
   server checks it before the handler runs; a route without one is refused.

Pure: the tables and the decisions, no I/O. The wire shape of an operator (the feed
entry that carries one to its branch) is in protocol.contract.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeVar

from protocol.errors import Forbidden, InvariantBroken, MalformedMessage

ACTIONS = ("view", "add", "edit", "delete", "export")

# The modules permissions are given for, named for what an operator would call them.
MODULES = (
    "members",  # profiles and the shared directory, looked up and edited
    "cards",  # balances, top-ups, card status
    "sales",  # checkout and the branch's sales
    "returns",  # customer returns and their refunds
    "stock",  # levels, moves and alerts
    "stocktake",  # counts that correct stock
    "purchasing",  # purchase orders and goods received
    "payables",  # purchase returns and what is owed to suppliers
    "transfers",  # stock sent between warehouses
    "catalogue",  # products, categories, suppliers, warehouses (master data)
    "operators",  # accounts, roles and grants (HQ)
    "conflicts",  # the member directory's conflict queue (HQ)
    "replication",  # sync status, quarantine, log proofs
    "reports",  # sales summaries and figures across branches
)

HQ_ROLES = ("general_manager", "management", "finance", "warehouse")
BRANCH_ROLES = ("store_manager", "clerk")
ROLES = HQ_ROLES + BRANCH_ROLES

_PERMISSION = re.compile(r"([a-z]+):([a-z]+)")


def _all(*modules: str, actions: Iterable[str] = ACTIONS) -> frozenset[str]:
    return frozenset(f"{module}:{action}" for module in modules for action in actions)


_VIEW = ("view",)
_DAILY = ("view", "add", "edit")
_STORE_BUSINESS = ("sales", "returns", "stock", "stocktake", "purchasing", "payables", "transfers")

ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    # Runs the chain: everything, operators included.
    "general_manager": _all(*MODULES),
    # Runs the business: every module but the operators', which it may only look at.
    "management": _all(*(m for m in MODULES if m != "operators")) | _all("operators", actions=_VIEW),
    # Reads and exports every figure; books what is owed to suppliers; edits no master data.
    "finance": _all(*MODULES, actions=("view", "export")) - _all("operators", actions=("export",))
    | _all("payables", actions=_DAILY),
    # Goods: stock, counts, purchasing, transfers and the catalogue; no member data.
    "warehouse": _all(
        "stock", "stocktake", "purchasing", "payables", "transfers", "catalogue", actions=_DAILY
    )
    | _all("stock", "stocktake", "purchasing", "transfers", actions=("export",))
    | _all("replication", "reports", actions=_VIEW),
    # Runs one store: all of its business, its members and cards, and its figures.
    # `cards:delete` is what a clerk lacks: resetting a forgotten card password.
    "store_manager": _all("members", "cards", *_STORE_BUSINESS, actions=("view", "add", "edit", "export"))
    | _all("cards", actions=("delete",))
    | _all("catalogue", "replication", "reports", actions=_VIEW)
    | _all("reports", actions=("export",)),
    # Enters the day's business at the counter: sells, registers, tops up; no counts,
    # no purchasing, no exports.
    "clerk": _all("members", "cards", actions=_DAILY)
    | _all("sales", actions=("view", "add"))
    | _all("stock", "transfers", "catalogue", "replication", actions=_VIEW),
}


class Scope(Enum):
    """Whose data a route reads or writes (rule 3)."""

    SHARED = "shared"  # the member directory, the catalogue: every branch's
    STORE = "store"  # one store's business data: HQ roles, or that store's own operators
    HQ = "hq"  # HQ's own work (operators, conflicts, master data): HQ roles only


@dataclass(frozen=True, slots=True)
class Policy:
    """What a route requires (rule 4). `public`: anyone; `signed`: a node's signature,
    checked by the handler against the node's key; otherwise a logged-in operator
    holding `permission` (any operator at all when it is None: logging out, say)."""

    permission: str | None = None
    scope: Scope = Scope.SHARED
    public: bool = False
    signed: bool = False


PUBLIC = Policy(public=True)
SIGNED_BY_NODE = Policy(signed=True)
LOGGED_IN = Policy()


def needs(permission: str, scope: Scope = Scope.SHARED) -> Policy:
    check_permission(permission)
    return Policy(permission=permission, scope=scope)


def check_permission(text: object) -> str:
    """`module:action` with a known module and action, or MalformedMessage naming them."""
    if not isinstance(text, str) or (match := _PERMISSION.fullmatch(text)) is None:
        raise MalformedMessage(f"a permission is written module:action, like stocktake:add; not {text!r}")
    module, action = match.groups()
    if module not in MODULES or action not in ACTIONS:
        raise MalformedMessage(
            f"{text!r} is not a permission: modules are {', '.join(MODULES)};"
            f" actions are {', '.join(ACTIONS)}"
        )
    return text


def check_role(role: object, branch: str | None) -> str:
    """A known role, with a branch exactly when it is a branch role (rule 3)."""
    if role not in ROLES:
        raise MalformedMessage(f"role must be one of {', '.join(ROLES)}; not {role!r}")
    assert isinstance(role, str)
    if role in BRANCH_ROLES and branch is None:
        raise MalformedMessage(f"a {role} belongs to one branch: give its branch code")
    if role in HQ_ROLES and branch is not None:
        raise MalformedMessage(f"{role} is an HQ role; it belongs to no branch")
    return role


def effective(role: str, grants: Iterable[str], revokes: Iterable[str]) -> frozenset[str]:
    """What an operator may do (rule 2)."""
    return (ROLE_PERMISSIONS[role] | frozenset(grants)) - frozenset(revokes)


@dataclass(frozen=True, slots=True)
class Actor:
    """An operator as a server sees them once their session checks out."""

    operator_id: str
    login: str
    role: str
    branch: str | None  # None for HQ roles
    permissions: frozenset[str]

    @property
    def at_hq(self) -> bool:
        return self.branch is None


def authorise(actor: Actor, policy: Policy, branch_asked: str | None = None) -> None:
    """Refuse with Forbidden unless `actor` may act under `policy` (rules 2 and 3).
    `branch_asked`: the store whose data a STORE route is asked for, if it names one."""
    if policy.public or policy.signed or policy.permission is None:
        return
    if policy.permission not in actor.permissions:
        raise Forbidden(f"{actor.login} ({actor.role}) may not {_spoken(policy.permission)}")
    if policy.scope is Scope.HQ and not actor.at_hq:
        raise Forbidden(f"{actor.login} works at branch {actor.branch}; this is HQ's own work")
    if policy.scope is Scope.STORE and not actor.at_hq and branch_asked not in (None, actor.branch):
        raise Forbidden(
            f"{actor.login} works at branch {actor.branch} and may not see {branch_asked}'s business"
        )


def _spoken(permission: str) -> str:
    module, action = permission.split(":")
    return f"{action} {module}"


# -- declaring a route's policy (rule 4) -----------------------------------------------

_POLICY_ATTRIBUTE = "branchline_policy"
F = TypeVar("F", bound=Callable[..., Any])


def declare(policy: Policy) -> Callable[[F], F]:
    """Mark a route handler with its policy; the app's check reads it before the
    handler runs (`declared`). Written under the route decorator:

        @routes.post("/api/stocktakes")
        @requires("stocktake:add")
        async def post_stocktake(request): ...
    """

    def mark(handler: F) -> F:
        setattr(handler, _POLICY_ATTRIBUTE, policy)
        return handler

    return mark


def requires(permission: str, scope: Scope = Scope.SHARED) -> Callable[[F], F]:
    return declare(needs(permission, scope))


public = declare(PUBLIC)
signed_by_node = declare(SIGNED_BY_NODE)
logged_in = declare(LOGGED_IN)


def bearer_token(authorization: str | None) -> str | None:
    """The token of `Authorization: Bearer TOKEN`, or None."""
    if authorization is None or not authorization.startswith("Bearer "):
        return None
    return authorization[len("Bearer ") :].strip() or None


def declared(handler: object) -> Policy | None:
    return getattr(handler, _POLICY_ATTRIBUTE, None)


def policy_of(handler: object, route: str) -> Policy:
    """The policy `handler` declares; a route without one is our bug, refused loudly."""
    policy = declared(handler)
    if policy is None:
        raise InvariantBroken(f"{route} declares no access policy")
    return policy
