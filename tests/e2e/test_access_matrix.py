"""Every route of the node and of HQ, tried by nobody and by every role, against the
policy it declares (protocol.access): the matrix is derived from the route tables, so
a new route cannot go unprotected, and each cell is checked on real servers.

A request a role may make gets past the check (whatever the handler then says of its
empty body); one it may not is refused 403 `forbidden`; one without a session 401
`not_logged_in`. Only the routes named in PUBLIC and SIGNED are open to the public or
to a node's signature.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from hq.api import ROUTE_TABLES as HQ_ROUTES
from node.routes import ROUTE_TABLES as NODE_ROUTES
from protocol import access
from tests.harness import Chain, clerk_login, log_in, manager_login

# A load balancer asks /api/health, which answers only whether the store answers.
PUBLIC = {
    ("POST", "/api/login"),
    ("POST", "/api/enroll"),
    ("GET", "/login"),
    ("GET", "/api/health"),
    # The console's scripts, style, texts and CJK font: no figure and no member data.
    ("GET", "/console/{name}"),
    ("GET", "/console/font/cjk.ttf"),
    # The till's likewise, served by each node.
    ("GET", "/till/{name}"),
    ("GET", "/till/font/cjk.ttf"),
}
SIGNED = {
    ("POST", "/api/push"),
    ("GET", "/api/feed"),
    ("POST", "/api/holds"),
    ("DELETE", "/api/holds/{hold}"),
    ("GET", "/api/photos/{sha256}"),  # a branch fetching a member's photo another branch took
}
REFUSALS = {"not_logged_in", "forbidden", "login_failed"}


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    policy: access.Policy

    @property
    def url_path(self) -> str:
        return re.sub(r"\{[^}]+\}", "x-1", self.path)


def routes_of(tables: tuple[web.RouteTableDef, ...]) -> list[Route]:
    found = []
    for table in tables:
        for route in table:
            assert isinstance(route, web.RouteDef)
            policy = access.declared(route.handler)
            assert policy is not None, f"{route.method} {route.path} declares no access policy"
            found.append(Route(route.method, route.path, policy))
    return found


def test_every_route_declares_its_policy_and_only_the_listed_ones_are_open() -> None:
    for routes in (routes_of(NODE_ROUTES), routes_of(HQ_ROUTES)):
        for route in routes:
            key = (route.method, route.path)
            assert route.policy.public == (key in PUBLIC), key
            assert route.policy.signed == (key in SIGNED), key
            if route.policy.permission is not None:
                access.check_permission(route.policy.permission)


def allowed(route: Route, role: str, at_hq: bool) -> bool:
    policy = route.policy
    if policy.permission is None:
        return True
    if policy.permission not in access.ROLE_PERMISSIONS[role]:
        return False
    # At HQ a branch's operator is kept out of HQ's own work; their own store's
    # figures they may read (asking for no other store, as here).
    return not (at_hq and role in access.BRANCH_ROLES and policy.scope is access.Scope.HQ)


async def attempt(url: str, route: Route, token: str | None) -> tuple[int, str | None]:
    """The route tried with an empty JSON body; the status and the error code, if any."""
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    body: Any = {} if route.method in ("POST", "PATCH", "PUT") else None
    async with (
        aiohttp.ClientSession() as session,
        session.request(
            route.method, url + route.url_path, json=body, headers=headers, allow_redirects=False
        ) as response,
    ):
        code = None
        if response.content_type == "application/json":
            answer = await response.json()
            code = answer.get("error") if isinstance(answer, dict) else None
        return response.status, code


async def check_matrix(url: str, routes: list[Route], tokens: dict[str, str], at_hq: bool) -> list[str]:
    wrong = []
    for route in routes:
        if route.policy.public or route.policy.signed:
            status, code = await attempt(url, route, None)
            # A push carries its signature in its body, the others in a header.
            if route.policy.signed and (status, code) not in ((401, "auth_failed"), (400, "malformed")):
                wrong.append(f"{route.method} {route.path} unsigned: {status} {code}")
            continue
        status, code = await attempt(url, route, None)
        # A page sends a person to log in; the API answers 401.
        expected = (303, None) if not route.path.startswith("/api/") else (401, "not_logged_in")
        if (status, code) != expected:
            wrong.append(f"{route.method} {route.path} anonymous: {status} {code}")
        for role, token in tokens.items():
            if route.path == "/api/logout":
                continue  # it would end the session the other cells use; tested on its own
            status, code = await attempt(url, route, token)
            if allowed(route, role, at_hq):
                if code in REFUSALS:
                    wrong.append(f"{route.method} {route.path} as {role}: refused {status} {code}")
            elif (status, code) != (403, "forbidden"):
                wrong.append(f"{route.method} {route.path} as {role}: {status} {code}, not 403 forbidden")
    return wrong


@pytest.fixture
async def staffed(chain: Chain) -> Chain:
    await chain.add_node("BR01")
    return chain


async def test_every_node_route_against_nobody_and_each_branch_role(staffed: Chain) -> None:
    chain = staffed
    node = chain.nodes["BR01"]
    tokens = {
        "store_manager": await log_in(node.url, manager_login("BR01")),
        "clerk": await log_in(node.url, clerk_login("BR01")),
    }
    routes = routes_of(NODE_ROUTES)
    assert len(routes) >= 40
    assert await check_matrix(node.url, routes, tokens, at_hq=False) == []


async def test_every_hq_route_against_nobody_and_each_role(staffed: Chain) -> None:
    chain = staffed
    tokens = {}
    for role in access.HQ_ROLES:
        tokens[role] = await chain.hq_token(f"matrix-{role}", role)
    tokens["store_manager"] = await log_in(chain.hq.url, manager_login("BR01"))
    tokens["clerk"] = await log_in(chain.hq.url, clerk_login("BR01"))
    routes = routes_of(HQ_ROUTES)
    assert len(routes) >= 30
    assert await check_matrix(chain.hq.url, routes, tokens, at_hq=True) == []


async def test_a_branch_receives_only_its_own_operators(staffed: Chain) -> None:
    chain = staffed
    await chain.add_node("BR02")
    node = chain.nodes["BR01"]
    await log_in(chain.nodes["BR02"].url, manager_login("BR02"))  # BR02 has synced its own
    for stranger in (manager_login("BR02"), "hq-gm"):
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                node.url + "/api/login", json={"login": stranger, "password": "till-password-1"}
            ) as response,
        ):
            assert (response.status, (await response.json())["error"]) == (401, "login_failed"), stranger
