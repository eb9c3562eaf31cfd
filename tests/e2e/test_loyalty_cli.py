"""`branchline hq points-rules|points-settings|voucher-campaigns|sale` and `branchline
points|member` against a running HQ and node, as an operator types them.

A tin of green tea is 128.00 yuan: 128 points to a member with no rules (1 per yuan).
"""

from __future__ import annotations

import datetime
import json
from functools import partial

import pytest

from tests import harness
from tests.e2e.test_card_life import _sell
from tests.harness import TEST_PASSWORD, Chain, Server, hq_login, manager_login, sale, wait_until
from tests.hq.operator import settle

branchline = partial(harness.branchline, columns=250, password=TEST_PASSWORD)


@pytest.fixture
def hq_backend() -> str:
    """SQLite only: these commands are HTTP clients, and both of HQ's backends are held
    to the same points and campaign rules by tests/e2e/test_points.py and test_vouchers.py."""
    return "sqlite"


async def _node_holds(chain: Chain, node: Server, codes: set[str], point_value_fen: int = 1) -> None:
    async def arrived() -> bool:
        held = await chain.get(node.url + "/api/points-rules")
        active = {rule["code"] for rule in held["rules"] if rule["active"]}
        return active == codes and held["settings"]["point_value_fen"] == point_value_fen

    await wait_until(arrived, f"the points rules {sorted(codes)} to reach {node}")


async def test_a_rule_authored_from_the_terminal_changes_what_a_preview_earns(chain: Chain) -> None:
    """Product rule TEA-2X (2x): the tin earns 256. A holiday rule from a TOML file, 1.5x
    for the hour around now, multiplies in: 128 x 2 x 1.5 = 384. A window that ends
    before it starts is refused with HQ's code and stores nothing."""
    node = await chain.add_node("BR01")
    hq = ["--hq", chain.hq.url, "--login", hq_login()]
    at = ["--node", node.url, "--login", manager_login("BR01")]
    member = (await chain.post(node.url + "/api/members", {"name": "Qian", "phone": "13900009001"}))["id"]
    tea = {"member_id": member, "lines": [{"sku": "TEA-GREEN-100", "qty": 1}]}

    async def catalogued() -> bool:
        found = await chain.post(node.url + "/api/sales/preview", tea, status=200)
        return bool(found["points_earned"] == 128)

    await wait_until(catalogued, "the tea to be sold at BR01")
    preview = ("points", "preview", "TEA-GREEN-100:1", "--member", member, *at)
    code, out = await branchline(*preview)
    assert code == 0, out
    assert f"preview only: nothing booked to member {member}: total 128.00 yuan; 128 points" in out

    code, out = await branchline(
        "hq", "points-rules", "add", "--code", "TEA-2X", "--name", "Tea 2x", "--kind", "product",
        "--target", "TEA-GREEN-100", "--factor", "2", *hq,
    )  # fmt: skip
    assert code == 0, out
    assert "1 points rules stored and sent to every branch" in out
    assert "TEA-2X" in out
    await _node_holds(chain, node, {"TEA-2X"})
    code, out = await branchline("points", "rules", *at)
    assert (code, "TEA-2X" in out, "2x" in out) == (0, True, True), out

    code, out = await branchline(*preview, "--cash", "20000")
    assert code == 0, out
    assert "total 128.00 yuan, change 72.00; 256 points" in out
    assert "TEA-2X" in out  # the reason names the rule
    held = await chain.get(f"{node.url}/api/members/{member}")
    assert sum(card["balances"]["points"] for card in held["cards"]) == 0  # a preview books nothing

    now_s = int(datetime.datetime.now(datetime.UTC).timestamp())
    zone = datetime.timezone(datetime.timedelta(hours=8))
    start, end = (datetime.datetime.fromtimestamp(now_s + d, zone).isoformat() for d in (-3600, 3600))
    rules_file = chain.root / "rules.toml"
    rules_file.write_text(
        "[[points_rules]]\n"
        'code = "WEEK"\nname = "Golden week"\nkind = "holiday"\nfactor_milli = 1500\n'
        f'valid_from_ms = "{start}"\nvalid_until_ms = "{end}"\n'
    )
    code, out = await branchline("hq", "points-rules", "add", "--file", str(rules_file), *hq)
    assert (code, "WEEK" in out, "1.5x" in out) == (0, True, True), out
    await _node_holds(chain, node, {"TEA-2X", "WEEK"})
    sale_file = chain.root / "sale.json"
    sale_file.write_text(json.dumps(tea))
    code, out = await branchline("points", "preview", "--file", str(sale_file), *at)
    assert (code, "128.00 yuan; 384 points" in out) == (0, True), out

    refused = ("--code", "R1", "--name", "R1", "--kind", "holiday", "--factor", "2")
    code, out = await branchline(
        "hq", "points-rules", "add", *refused, "--from", "2000", "--until", "1000", *hq
    )
    assert code == 2, out
    assert "branchline: HQ refused (422 invalid_master_data): points rule R1" in out
    assert "ends before it starts" in out
    code, out = await branchline("hq", "points-rules", "list", *hq)
    assert (code, "TEA-2X" in out, "R1" in out) == (0, True, False), out


async def test_points_turned_into_stored_value_and_a_campaign_from_the_terminal(chain: Chain) -> None:
    """HQ's worth of a point set to 2 fen from the terminal. Two gift boxes (598.00 in
    cash) earn 598 points; 500 of them become 10.00 yuan on S-8101 (STORED-1000,
    1,000.00 paid): 98 points left, 1,010.00 on the card. The same key again books
    nothing more; 99 points is more than the card holds (402 points_short). A campaign
    of 20.00 vouchers reaches the member, shown at the till and at HQ."""
    node = await chain.add_node("BR01")
    hq = ["--hq", chain.hq.url, "--login", hq_login()]
    at = ["--node", node.url, "--login", manager_login("BR01")]
    code, out = await branchline("hq", "points-settings", "set", "--point-value-fen", "2", *hq)
    assert code == 0, out
    assert "stored and sent to every branch" in out
    assert "0.02 yuan" in out
    code, out = await branchline("hq", "points-settings", "show", *hq)
    assert (code, "0.02 yuan" in out, "multiply" in out) == (0, True, True), out
    await _node_holds(chain, node, set(), point_value_fen=2)

    member = await _sell(chain, node, "13900009101", "STORED-1000", "S-8101", 100_000)
    sold = await chain.post(node.url + "/api/sales", sale(("GIFT-BOX", 2), cash_fen=59_800, member_id=member))
    assert sold["points_earned"] == 598
    convert = ("points", "convert", member, "--to", "S-8101", *at)
    code, out = await branchline(*convert, "--points", "500", "--key", "convert-1")
    assert code == 0, out
    assert (
        f"500 points off {member} onto S-8101 as 10.00 yuan of stored value; {member} holds 98 points,"
        " S-8101 1,010.00 yuan (key convert-1)"
    ) in out
    code, out = await branchline(*convert, "--points", "500", "--key", "convert-1")
    assert (code, "(replayed)" in out, f"{member} holds 98 points" in out) == (0, True, True), out
    code, out = await branchline(*convert, "--points", "99")
    assert code == 2, out
    assert "branchline: the node refused (402 points_short)" in out
    card = await chain.get(node.url + "/api/cards/S-8101")
    assert card["balances"]["stored_value"] == 101_000

    await settle(chain, "BR01")  # HQ knows the member and the sale
    code, out = await branchline("hq", "sale", "show", sold["id"], "--branch", "BR01", *hq)
    assert (code, "total 598.00 yuan, change 0.00; 598 points" in out) == (0, True), out
    today = datetime.datetime.now(datetime.UTC).date()
    days = (
        "--from",
        str(today - datetime.timedelta(days=1)),
        "--until",
        str(today + datetime.timedelta(days=30)),
    )
    code, out = await branchline(
        "hq",
        "voucher-campaigns",
        "add",
        "--code",
        "SPRING",
        "--name",
        "Spring",
        "--value-fen",
        "2000",
        *days,
        *hq,
    )
    assert (code, "1 vouchers issued now" in out) == (0, True), out
    code, out = await branchline("hq", "voucher-campaigns", "list", *hq)
    assert (code, "1 voucher campaigns" in out, "everyone" in out) == (0, True, True), out
    code, out = await branchline("hq", "voucher-campaigns", "show", "SPRING", *hq)
    assert (code, member in out, "unused" in out, "20.00" in out) == (0, True, True, True), out
    code, out = await branchline(
        "hq", "voucher-campaigns", "add", "--code", "LATE", "--name", "Late", "--value-fen", "2000",
        "--from", str(today), "--until", str(today - datetime.timedelta(days=1)), *hq,
    )  # fmt: skip
    assert code == 2, out
    assert "HQ refused (422 " in out
    assert "ends before it starts" in out

    await settle(chain, "BR01")
    code, out = await branchline("member", "vouchers", member, *at)
    assert (code, "SPRING" in out, "unused" in out) == (0, True, True), out
