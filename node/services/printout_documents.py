"""What each queued receipt says (node.services.printouts rule 4), made into a
printer's document (devices.document): a sale's receipt, a top-up's, a card sale's, a
return's and the day's settlement."""

from __future__ import annotations

import datetime
import sqlite3
import unicodedata

from devices.document import Barcode, Block, Document, Line, QRCode
from loyalty.reasons import format_yuan
from node.errors import NotFound
from node.services import birthdays, card_sales, checkout, returns, settlement
from protocol.business_day import BusinessDay
from protocol.entry import decode_entry
from shared_tables import directory_store

TENDER_WORDS = {
    "cash": "现金 Cash",
    "stored_value": "储值 Stored value",
    "voucher": "优惠券 Voucher",
    "uses": "次卡 Count card",
    "time_card": "时间卡 Time card",
    "credit": "挂账 Credit",
    "points": "积分 Points",
}


RULE = Line("\x00rule")  # a full-width rule, drawn to the paper's width


def document_for(
    conn: sqlite3.Connection,
    kind: str,
    ref: str,
    copy: bool,
    branch: str,
    days: BusinessDay,
    width_chars: int = 48,
) -> Document:
    """The receipt of a queued job (rule 4), laid out for paper `width_chars` wide (a
    Chinese character takes two)."""
    makers = {
        "sale": _sale,
        "top_up": _top_up,
        "card_sale": _card_sale,
        "return": _return,
        "settlement": _settlement,
    }
    blocks: list[Block] = [
        Line(branch, bold=True, double=True, align="center"),
        Line("Branchline", align="center"),
    ]
    if copy:
        blocks.append(Line("** 重印 COPY **", bold=True, align="center"))
    body, kick = makers[kind](conn, ref, days)
    laid = [_laid_out(block, width_chars) for block in (*blocks, *body)]
    return Document(tuple(laid), kick_drawer=kick and not copy)


def _columns(text: str) -> int:
    """How many columns `text` takes on the paper: a wide (CJK) character two."""
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def _printable(text: str) -> str:
    """Text as the paper takes it: a control character (a name typed with one) could be
    a printer command, so each becomes a space."""
    return "".join(" " if unicodedata.category(char) == "Cc" else char for char in text)


def _laid_out(block: Block, width: int) -> Block:
    if block == RULE:
        return Line("-" * width)
    if not isinstance(block, Line):
        return block
    if "\t" in block.text:
        left, right = (_printable(part) for part in block.text.split("\t", 1))
        gap = width - _columns(left) - _columns(right)
        return Line(f"{left}{' ' * max(1, gap)}{right}", block.bold, block.double, block.align)
    return Line(_printable(block.text), block.bold, block.double, block.align)


def _when(at_ms: int, days: BusinessDay) -> str:
    moment = datetime.datetime.fromtimestamp(at_ms / 1000, days.zone)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _operator(conn: sqlite3.Connection, seq: int) -> str:
    (raw,) = conn.execute("SELECT entry FROM change_log WHERE seq = ?", (seq,)).fetchone()
    actor = decode_entry(raw).actor
    row = conn.execute("SELECT login FROM operators WHERE id = ?", (actor,)).fetchone()
    return str(row[0]) if row is not None else (actor or "-")


def _money(fen: int) -> str:
    return f"¥{format_yuan(fen)}"


def _pair(left: str, right: str, *, bold: bool = False) -> Line:
    """`left` and `right` on one line, `right` at the paper's right edge."""
    return Line(f"{left}\t{right}", bold=bold)


def _member_lines(
    conn: sqlite3.Connection, member_id: str | None, at_ms: int, days: BusinessDay
) -> list[Block]:
    if member_id is None:
        return [Line("散客 Walk-in")]
    member = directory_store.member_json(conn, member_id)
    if member is None:
        return [Line(f"会员 Member {member_id}")]
    phone = str(member.get("phone") or "")
    shown_phone = phone[:3] + "****" + phone[-4:] if len(phone) >= 11 else phone
    found: list[Block] = [Line(f"会员 Member: {member.get('name') or ''} {shown_phone}")]
    for card in member["cards"]:
        balances = card["balances"]
        found.append(
            Line(
                f"  {card['card']}: 储值 ¥{format_yuan(balances['stored_value'])} · 积分 {balances['points']}"
            )
        )
    birthday = member.get("birthday")
    today = birthdays.local_day(at_ms, days.zone)
    if isinstance(birthday, str) and birthday[5:] in birthdays.birthdays_on(today):
        found.append(
            Line(f"祝 {member.get('name') or ''} 生日快乐！Happy birthday!", bold=True, align="center")
        )
    return found


def _sale(conn: sqlite3.Connection, sale_id: str, days: BusinessDay) -> tuple[list[Block], bool]:
    sale = checkout.sale_view(conn, sale_id)
    names = dict(conn.execute("SELECT sku, name FROM products").fetchall())
    blocks: list[Block] = [
        Line("销售小票 Sale", bold=True),
        Line(_when(sale["at_ms"], days)),
        Line(f"收银员 Operator: {_operator(conn, sale['seq'])}"),
        RULE,
    ]
    for line in sale["lines"]:
        blocks.append(Line(f"{names.get(line['sku'], line['sku'])}"))
        each = format_yuan(line["unit_price_fen"])
        blocks.append(_pair(f"  {line['qty']} x {each}", f"¥{format_yuan(line['amount_fen'])}"))
        if line.get("discount_fen"):
            blocks.append(Line(f"  优惠 Discount -¥{format_yuan(line['discount_fen'])}"))
    blocks.append(RULE)
    blocks.append(_pair("合计 Total", _money(sale["total_fen"]), bold=True))
    for reason in sale["discounts"]:
        blocks.append(Line(reason["text_zh"]))
    for tender in sale["tenders"]:
        mode = (
            f" ({'离线 offline' if tender['mode'] == 'offline' else '在线 online'})"
            if tender.get("mode")
            else ""
        )
        card = f" {tender['card']}" if tender.get("card") else ""
        blocks.append(
            _pair(
                f"{TENDER_WORDS.get(tender['kind'], tender['kind'])}{card}{mode}",
                f"¥{format_yuan(tender['amount_fen'])}",
            )
        )
    blocks.append(Line(f"找零 Change ¥{format_yuan(sale['change_fen'])}"))
    if sale["points_earned"]:
        blocks.append(Line(f"本单积分 Points earned: {sale['points_earned']}", bold=True))
        blocks.extend(Line(f"  {reason['text_zh']}") for reason in sale["points_reasons"])
    if sale["rebate"]:
        blocks.append(Line(sale["rebate"]["text_zh"]))
    blocks.extend(_member_lines(conn, sale["member_id"], sale["at_ms"], days))
    blocks.append(QRCode(sale_id))
    blocks.append(Line(sale_id, align="center"))
    return blocks, any(tender["kind"] == "cash" for tender in sale["tenders"])


def _top_up(conn: sqlite3.Connection, top_up_id: str, days: BusinessDay) -> tuple[list[Block], bool]:
    row = conn.execute(
        "SELECT card_id, amount_fen, bonus_fen, at_ms FROM top_ups WHERE id = ?", (top_up_id,)
    ).fetchone()
    if row is None:
        raise NotFound(f"no top-up {top_up_id} at this branch")
    card_id, paid_fen, bonus_fen, at_ms = row
    card = directory_store.card_json(conn, card_id)
    blocks: list[Block] = [
        Line("充值凭条 Top-up", bold=True),
        Line(_when(at_ms, days)),
        Line(f"卡号 Card: {card_id}"),
        Line(f"充值 Paid ¥{format_yuan(paid_fen)}", bold=True),
        *([Line(f"赠送 Bonus ¥{format_yuan(bonus_fen)}")] if bonus_fen else []),
        Line(f"储值余额 Balance ¥{format_yuan(card['balances']['stored_value'])}", bold=True),
        QRCode(top_up_id),
    ]
    return blocks, True


def _card_sale(conn: sqlite3.Connection, sale_id: str, days: BusinessDay) -> tuple[list[Block], bool]:
    sold = card_sales.load_card_sale(conn, sale_id)
    blocks: list[Block] = [
        Line("售卡凭条 Card sale", bold=True),
        Line(_when(sold["at_ms"], days)),
        Line(f"收银员 Operator: {_operator(conn, sold['seq'])}"),
        Line(f"卡号 Card: {sold['card']['card']} ({sold['card_type']})"),
        Line(f"金额 Price ¥{format_yuan(sold['price_fen'])}", bold=True),
        Line(f"找零 Change ¥{format_yuan(sold['change_fen'])}"),
        *_member_lines(conn, sold["member_id"], sold["at_ms"], days),
        QRCode(sale_id),
    ]
    return blocks, True


def _return(conn: sqlite3.Connection, return_id: str, days: BusinessDay) -> tuple[list[Block], bool]:
    done = returns.load_return(conn, return_id)
    names = dict(conn.execute("SELECT sku, name FROM products").fetchall())
    blocks: list[Block] = [
        Line("退货凭条 Return", bold=True),
        Line(_when(done["at_ms"], days)),
        Line(f"收银员 Operator: {_operator(conn, done['seq'])}"),
        Line(f"原单 Sale: {done['sale_id']}"),
    ]
    for line in done["lines"]:
        blocks.append(_pair(f"{names.get(line['sku'], line['sku'])} x {line['qty']}", ""))
    for refund in done.get("refunds", []):
        blocks.append(
            _pair(
                f"退回 {TENDER_WORDS.get(refund['kind'], refund['kind'])}",
                f"¥{format_yuan(refund['amount_fen'])}",
            )
        )
    blocks.append(Line(f"退款合计 Refund ¥{format_yuan(done['refund_fen'])}", bold=True))
    blocks.append(QRCode(return_id))
    return blocks, any(refund["kind"] == "cash" for refund in done.get("refunds", []))


def _settlement(conn: sqlite3.Connection, day: str, days: BusinessDay) -> tuple[list[Block], bool]:
    found = settlement.settlement(conn, "", settlement.parse_day(day), days)
    closed = found["close"]
    blocks: list[Block] = [
        Line(f"日结单 Daily settlement · {day}", bold=True),
        Line(f"销售笔数 Sales: {found['sales']['count']}"),
        Line(f"销售额 Sales ¥{format_yuan(found['sales']['total_fen'])}"),
        Line(f"收款合计 Takings ¥{format_yuan(found['takings']['total_fen'])}"),
        Line(f"退款合计 Refunds ¥{format_yuan(found['refunds']['total_fen'])}"),
    ]
    if closed is not None:
        blocks.append(Line(f"应有现金 Expected cash ¥{format_yuan(closed['expected_cash_fen'])}"))
        blocks.append(Line(f"实点现金 Counted ¥{format_yuan(closed['counted_cash_fen'])}", bold=True))
        blocks.append(Line(f"差额 Difference ¥{format_yuan(closed['difference_fen'])}"))
        blocks.append(Line(f"日结人 Closed by: {closed['closed_by_login']}"))
    blocks.append(Barcode(day))
    return blocks, False
