"""Why a sale earned its points, one line per rule, in words a cashier understands.

A `Reason` names the rule (its code, kind, target and factor), the sale's lines it
applied to and the money it applied to, with a line of English (`text`, filled from
the other fields when not given) and the same line in Chinese (`explain_zh`). Yuan
are written from integer fen with two decimals, and factors from thousandths,
without a float anywhere.

A sale stores its reasons without the words (`to_json`: the six fields, as the wire
contract carries them); the words are made where they are shown (`shown`), in the
reader's language, from the same fields.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from loyalty.errors import InvalidPointsRecord
from loyalty.rules import COMBINE_MODES, RULE_KINDS

__all__ = ["REASON_KINDS", "Reason", "explain_en", "explain_zh", "format_factor", "format_yuan", "shown"]

# A rule's kind, or "combine": how several multipliers met on a line (its target is
# the combine mode). A reason of kind "base" with no code is the default base of 1
# point per yuan, given when no base rule is in force.
REASON_KINDS = (*RULE_KINDS, "combine")

_TENDER_ZH = {
    "cash": "现金",
    "stored_value": "储值",
    "voucher": "电子券",
    "uses": "次卡",
    "time_card": "时间卡",
    "credit": "挂账",
    "points": "积分",
}
_COMBINE_EN = {
    "multiply": "multipliers multiplied",
    "add": "multipliers added",
    "best": "best multiplier only",
}
_COMBINE_ZH = {"multiply": "倍数相乘", "add": "倍数相加", "best": "取最高倍数"}


class Reason(NamedTuple):
    """One rule that applied to a sale (or the default base, or a combination). A tuple:
    a member's sale makes a dozen, and a tuple is built several times faster than a
    frozen dataclass."""

    code: str  # the rule's code; "" for the default base and for a combination
    kind: str
    target: str
    factor_milli: int  # the rule's factor; a combination's, rounded down to a thousandth
    lines: tuple[int, ...]  # indices of the sale's lines it applied to, ascending
    applied_fen: int  # the money it applied to (a tender rule: what that tender paid)

    def check(self) -> Reason:
        """The reason, when its fields are what a reason holds. The engine makes reasons
        from rules it checked, so only reasons read back (`from_json`) are checked:
        checking a dozen fresh ones on every member's sale cost the till a tenth of its
        checkout."""
        if self.kind not in REASON_KINDS:
            raise InvalidPointsRecord(f"unknown reason kind {self.kind!r}; expected one of {REASON_KINDS}")
        if self.kind == "combine" and self.target not in COMBINE_MODES:
            raise InvalidPointsRecord(f"a combination's target is its mode, one of {COMBINE_MODES}")
        for name in ("factor_milli", "applied_fen"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise InvalidPointsRecord(f"a reason's {name} must be a non-negative integer, not {value!r}")
        if not isinstance(self.lines, tuple) or any(
            not isinstance(i, int) or isinstance(i, bool) or i < 0 for i in self.lines
        ):
            raise InvalidPointsRecord("a reason's lines must be a tuple of line indices")
        return self

    @property
    def text(self) -> str:
        """The reason in English, made when read: a sale stores only the fields, and
        the till's write has no time to spend on words nobody reads there."""
        return explain_en(self)

    def to_json(self) -> dict[str, Any]:
        """The reason as a sale stores it: its fields in sorted order, without the words
        (protocol.contract.loyalty.POINTS_REASON)."""
        return {
            "applied_fen": self.applied_fen,
            "code": self.code,
            "factor_milli": self.factor_milli,
            "kind": self.kind,
            "lines": list(self.lines),
            "target": self.target,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Reason:
        try:
            return cls(
                data["code"],
                data["kind"],
                data["target"],
                data["factor_milli"],
                tuple(data["lines"]),
                data["applied_fen"],
            ).check()
        except (KeyError, TypeError) as missing:
            raise InvalidPointsRecord(f"a stored reason lacks {missing}") from None


def format_yuan(fen: int) -> str:
    """2_000_00 fen -> "2,000.00": integer arithmetic, never a float."""
    sign = "-" if fen < 0 else ""
    yuan, cents = divmod(abs(fen), 100)
    return f"{sign}{yuan:,}.{cents:02d}"


def format_factor(milli: int) -> str:
    """Thousandths as a decimal: 1500 -> "1.5", 2000 -> "2", 1_000_000 -> "1,000"."""
    whole, part = divmod(milli, 1000)
    decimals = f"{part:03d}".rstrip("0")
    return f"{whole:,}.{decimals}" if decimals else f"{whole:,}"


def explain_en(reason: Reason) -> str:
    """The reason as a cashier reads it: "category B: 2x on 2,000.00 yuan"."""
    factor, on = format_factor(reason.factor_milli), f"on {format_yuan(reason.applied_fen)} yuan"
    kind, target = reason.kind, reason.target
    if kind == "base":
        if not reason.code:
            return f"base: 1 point per yuan {on} (no base rule in force)"
        unit = "point" if reason.factor_milli == 1000 else "points"
        return f"base rule {reason.code}: {factor} {unit} per yuan {on}"
    if kind == "extra":
        return f"product {target}: {factor} extra points per yuan {on}"
    what = {
        "category": f"category {target}",
        "product": f"product {target}",
        "level": f"{target} member",
        "tier": f"purchase tier {reason.code}",
        "holiday": f"holiday {reason.code}",
        "tender": f"paid with {target}",
        "combine": _COMBINE_EN.get(target, target),
    }[kind]
    return f"{what}: {factor}x {on}"


def explain_zh(reason: Reason) -> str:
    """The same line in Chinese: "品类 B：2倍，金额 2,000.00 元"."""
    factor, on = format_factor(reason.factor_milli), f"金额 {format_yuan(reason.applied_fen)} 元"
    kind, target = reason.kind, reason.target
    if kind == "base":
        if not reason.code:
            return f"基础积分：每元 1 积分（无基础规则），{on}"
        return f"基础积分 {reason.code}：每元 {factor} 积分，{on}"
    if kind == "extra":
        return f"商品 {target}：每元额外 {factor} 积分，{on}"
    what = {
        "category": f"品类 {target}",
        "product": f"商品 {target}",
        "level": f"会员等级 {target}",
        "tier": f"消费档 {reason.code}",
        "holiday": f"节日活动 {reason.code}",
        "tender": f"{_TENDER_ZH.get(target, target + ' ')}支付",
        "combine": _COMBINE_ZH.get(target, target),
    }[kind]
    return f"{what}：{factor}倍，{on}"


def shown(stored: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Reasons as a sale's entry carries them (no words), with the words a person reads:
    `text` in English and `text_zh` in Chinese, made here wherever they are shown."""
    found = []
    for fields in stored:
        reason = Reason.from_json(dict(fields))
        found.append({**fields, "text": reason.text, "text_zh": explain_zh(reason)})
    return found
