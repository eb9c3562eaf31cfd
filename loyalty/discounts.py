"""What each line of a sale pays after discounts (FEATURES L11): bundle prices, special
prices for a period, the member's card discount, and the purchase rebate a sale earns.

A line arrives with its shelf price (`unit_price_fen`: what the catalogue charges this
buyer, the list price less the product's own discount where that applies) and its list
price (`list_price_fen`). The rules, in the order they are applied:

1. Bundles. A bundle in force sells its products together, `qty` of each, for
   `price_fen` a set. The sale holds as many whole sets as its units allow (units are
   taken from the sale's lines in their order). A bundle applies only where a set costs
   less than its units would otherwise (rule 2, computed exactly), so buying together
   never costs the customer more. Bundles compete for units greedily: the one saving
   most per set first, ties to the smallest code (deterministic and one a cashier can
   follow; with overlapping bundles it is not always the cheapest split possible). At
   most MAX_BUNDLES_PER_SALE bundles apply to a sale.
   A bundle's price is final: no special price or card discount applies to a unit in a
   set. The sets' price is spread over the units' lines in proportion to their shelf
   amounts by largest remainder: each line takes the floor of its share, and the fen
   left over go one each to the lines with the largest remainders (ties to the earlier
   line), so the lines add up to the sets' price exactly.
2. Every unit not in a set pays the best for the customer of, never two stacked:
   - its shelf price;
   - the lowest special price in force for its sku (ties to the smallest code);
   - the member's card discount, `rate` percent of the list price (a card of rate 85
     pays 85%). Special-priced or product-discounted goods do not take the card's rate
     on top: shops put them on offer *instead of* the member discount, and HQ finance
     then knows the lowest price a product can go for. It is not a setting: no shop
     asked for stacking, and a setting would make every receipt harder to check.
   Per line, over its units not in a set: the shelf amount is shelf x units, a special
   amount special x units, and the card amount

       card_amount = round(list x units x rate / 100), half a fen down (to the customer)

   computed in integers as (2 x list x units x rate + 99) // 200. The line pays the
   smallest; on a tie the shelf price, then the special price (the fewest words on
   the receipt).
3. A line's discount is its shelf amount (shelf x qty) less what it pays: never
   negative, never above the shelf amount. The sale's discount is the sum of its lines'
   discounts, and each applied bundle, special price and card discount has one reason
   saying how much it took off which lines; the reasons add up to the sale's discount.
4. Points are earned on what each line pays after these discounts (loyalty.points
   takes `paid_fen`): a discount lowers the points, never raises them.
5. A rebate rule gives `back_fen` back, as stored value on the member's card, to a sale
   whose spend after discounts is at least `min_spend_fen`. Of the rules met, the one
   giving most back applies (ties to the higher threshold, then the smaller code), once
   per sale. The rebate is given after the sale and changes neither its prices nor its
   points. It is taken back (whole) by the return that brings what the sale kept below
   the threshold.
6. A fixed line (goods redeemed for points, FEATURES L7: the points set its price) pays
   its given price, `unit_price_fen` x qty: its units join no bundle, take no special
   price and no card rate, and it has no say in what price a product has (another line
   of the same product is priced by rules 1 to 3 as if it were not there).
7. A till discount. A line may carry `manual_fen`, fen the cashier takes off it at the
   till (who may give how much is the branch's policy: node.services.checkout). It
   comes off what the line pays after rules 1 to 3, so every offer is worked out on
   the shelf price as before and the cashier's discount is on top; it may not be more
   than that amount, and a larger one is refused naming the line and both amounts,
   never capped silently (a receipt would show a discount the cashier did not give).
   A fixed line (rule 6) takes none and is refused: its price is the points' worth.
   The line's amount falls by it and its discount rises by it, and one reason of kind
   "manual" lists the lines that took one and what was taken off them in all, so the
   reasons still add up to the sale's discount. Points (rule 4) and the rebate (rule
   5) go by what the line pays after it.

Every record is in force from `valid_from_ms` (inclusive) until `valid_until_ms`
(exclusive); 0 for the end means open-ended. Time is an argument, never read here.

Worked example (tests/loyalty/test_discounts.py has more): a gold card (rate 85) buys a
teapot (list 100.00) and 4 cups (list 10.00), a bundle "teapot + 4 cups for 120.00" in
force, and a 2nd teapot. Otherwise a teapot costs 85.00 and a cup 8.50: a set would cost
119.00, less than 120.00, so the bundle is not applied; both teapots and the cups take
the card: 170.00 + 34.00 = 204.00, 36.00 off.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from loyalty.errors import InvalidDiscount, check_int, check_text, one_per_code
from loyalty.reasons import format_yuan
from protocol.contract.discounts import DISCOUNT_KINDS, MAX_BUNDLE_LINES, MAX_BUNDLES_PER_SALE
from protocol.errors import require
from protocol.limits import (
    MAX_AMOUNT_FEN,
    MAX_AT_MS,
    MAX_NAME_CHARS,
    MAX_SALE_FEN,
    MAX_SALE_LINE_FEN,
    MAX_SALE_LINE_QTY,
    MAX_SALE_LINES,
)

__all__ = [
    "Bundle",
    "CardDiscount",
    "DiscountReason",
    "ManualDiscountTooLarge",
    "PriceLine",
    "Priced",
    "RebateRule",
    "SpecialPrice",
    "at_shelf",
    "explain_en",
    "explain_zh",
    "price",
    "rebate_en",
    "rebate_for",
    "rebate_zh",
    "shown",
    "spread",
]


def _check_window(what: str, code: str, valid_from_ms: int, valid_until_ms: int) -> None:
    check_int(valid_from_ms, f"{what} {code}: valid_from_ms", 0, MAX_AT_MS, InvalidDiscount)
    check_int(valid_until_ms, f"{what} {code}: valid_until_ms", 0, MAX_AT_MS, InvalidDiscount)
    if valid_until_ms and valid_until_ms <= valid_from_ms:
        raise InvalidDiscount(
            f"{what} {code} ends ({valid_until_ms} ms) before or when it starts ({valid_from_ms} ms);"
            " give a valid_until_ms after valid_from_ms, or 0 for no end"
        )


def _in_force(valid_from_ms: int, valid_until_ms: int, at_ms: int) -> bool:
    return valid_from_ms <= at_ms and (valid_until_ms == 0 or at_ms < valid_until_ms)


@dataclass(frozen=True, slots=True)
class SpecialPrice:
    """A special unit price for product `sku` while in force."""

    code: str
    sku: str
    price_fen: int
    valid_from_ms: int = 0
    valid_until_ms: int = 0

    def __post_init__(self) -> None:
        check_text(self.code, "a special price's code", MAX_NAME_CHARS, InvalidDiscount)
        check_text(self.sku, f"special price {self.code}: sku", MAX_NAME_CHARS, InvalidDiscount)
        check_int(self.price_fen, f"special price {self.code}: price_fen", 1, MAX_AMOUNT_FEN, InvalidDiscount)
        _check_window("special price", self.code, self.valid_from_ms, self.valid_until_ms)

    def in_force(self, at_ms: int) -> bool:
        return _in_force(self.valid_from_ms, self.valid_until_ms, at_ms)


@dataclass(frozen=True, slots=True)
class Bundle:
    """Products sold together: `qty` of each `sku` in `lines` for `price_fen` a set."""

    code: str
    lines: tuple[tuple[str, int], ...]
    price_fen: int
    valid_from_ms: int = 0
    valid_until_ms: int = 0

    def __post_init__(self) -> None:
        check_text(self.code, "a bundle's code", MAX_NAME_CHARS, InvalidDiscount)
        where = f"bundle {self.code}"
        if not isinstance(self.lines, tuple) or not 1 <= len(self.lines) <= MAX_BUNDLE_LINES:
            raise InvalidDiscount(f"{where} has 1 to {MAX_BUNDLE_LINES} lines of (sku, qty)")
        seen: set[str] = set()
        for line in self.lines:
            if not isinstance(line, tuple) or len(line) != 2:
                raise InvalidDiscount(f"{where}: each line is a (sku, qty) pair")
            sku, qty = line
            check_text(sku, f"{where}: a line's sku", MAX_NAME_CHARS, InvalidDiscount)
            check_int(qty, f"{where}: {sku}'s qty", 1, MAX_SALE_LINE_QTY, InvalidDiscount)
            if sku in seen:
                raise InvalidDiscount(f"{where} names {sku} twice; give each product once with its qty")
            seen.add(sku)
        if sum(qty for _, qty in self.lines) < 2:
            raise InvalidDiscount(f"{where} holds one unit: that is a special price, not a bundle")
        check_int(self.price_fen, f"{where}: price_fen", 1, MAX_SALE_LINE_FEN, InvalidDiscount)
        _check_window("bundle", self.code, self.valid_from_ms, self.valid_until_ms)

    def in_force(self, at_ms: int) -> bool:
        return _in_force(self.valid_from_ms, self.valid_until_ms, at_ms)


@dataclass(frozen=True, slots=True)
class RebateRule:
    """Spend at least `min_spend_fen` after discounts in one sale, get `back_fen` back."""

    code: str
    min_spend_fen: int
    back_fen: int
    valid_from_ms: int = 0
    valid_until_ms: int = 0

    def __post_init__(self) -> None:
        check_text(self.code, "a rebate rule's code", MAX_NAME_CHARS, InvalidDiscount)
        where = f"rebate rule {self.code}"
        check_int(self.min_spend_fen, f"{where}: min_spend_fen", 1, MAX_SALE_FEN, InvalidDiscount)
        check_int(self.back_fen, f"{where}: back_fen", 1, MAX_SALE_FEN, InvalidDiscount)
        if self.back_fen > self.min_spend_fen:
            # More back than the least spend that earns it pays the customer to shop.
            raise InvalidDiscount(
                f"{where} gives back {format_yuan(self.back_fen)} yuan on a spend of"
                f" {format_yuan(self.min_spend_fen)}: a rebate gives back at most what was spent"
            )
        _check_window("rebate rule", self.code, self.valid_from_ms, self.valid_until_ms)

    def in_force(self, at_ms: int) -> bool:
        return _in_force(self.valid_from_ms, self.valid_until_ms, at_ms)


@dataclass(frozen=True, slots=True)
class CardDiscount:
    """The member's card whose type discounts the sale: `rate` percent of list paid."""

    card: str
    card_type: str
    rate: int

    def __post_init__(self) -> None:
        check_text(self.card, "the discount card's number", MAX_NAME_CHARS, InvalidDiscount)
        check_text(self.card_type, f"card {self.card}: card type", MAX_NAME_CHARS, InvalidDiscount)
        check_int(self.rate, f"card {self.card}: discount rate", 1, 100, InvalidDiscount)


@dataclass(frozen=True, slots=True)
class PriceLine:
    """One line of a sale as the discount rules see it."""

    sku: str
    qty: int
    unit_price_fen: int  # the shelf price: list less the product's own discount, if any
    list_price_fen: int  # what the card's rate is a percent of
    fixed: bool = False  # pays unit_price_fen x qty whatever is in force (rule 6)
    manual_fen: int = 0  # taken off at the till, after the offers (rule 7)

    def __post_init__(self) -> None:
        check_text(self.sku, "a line's sku", MAX_NAME_CHARS, InvalidDiscount)
        check_int(self.qty, f"line {self.sku}: qty", 1, MAX_SALE_LINE_QTY, InvalidDiscount)
        check_int(self.list_price_fen, f"line {self.sku}: list_price_fen", 0, MAX_AMOUNT_FEN, InvalidDiscount)
        check_int(
            self.unit_price_fen, f"line {self.sku}: unit_price_fen", 0, self.list_price_fen, InvalidDiscount
        )
        if not isinstance(self.fixed, bool):
            raise InvalidDiscount(f"line {self.sku}: fixed must be true or false")
        check_int(self.manual_fen, f"line {self.sku}: manual_fen", 0, MAX_SALE_LINE_FEN, InvalidDiscount)
        if self.fixed and self.manual_fen:
            raise InvalidDiscount(
                f"line {self.sku} is redeemed for points (its price is the points' worth) and takes"
                f" no till discount; {format_yuan(self.manual_fen)} yuan was asked: give it on a line"
                " paid in money"
            )


class ManualDiscountTooLarge(InvalidDiscount):
    """A till discount (rule 7) more than its line pays after the offers: the line
    would pay below nothing. Give at most `amount_fen` off line `line`."""

    def __init__(self, line: int, sku: str, manual_fen: int, amount_fen: int) -> None:
        super().__init__(
            f"line {line} ({sku}): a till discount of {format_yuan(manual_fen)} yuan ({manual_fen} fen)"
            f" is more than the {format_yuan(amount_fen)} yuan ({amount_fen} fen) the line pays after"
            f" offers; give at most {amount_fen} fen off it"
        )
        self.line = line
        self.sku = sku
        self.manual_fen = manual_fen
        self.amount_fen = amount_fen


@dataclass(frozen=True, slots=True)
class DiscountReason:
    """One discount that applied to a sale: what it was, on which lines, how much it took off."""

    kind: str  # bundle | special | card | manual
    code: str  # the bundle's, the special price's, the card's type; "" for a till discount
    target: str  # the special price's sku, the card's number; "" for a bundle and a till discount
    lines: tuple[int, ...]  # indices of the sale's lines, ascending
    discount_fen: int  # what it took off those lines' shelf amounts
    price_fen: int = 0  # a special's unit price, a bundle's price a set
    rate: int = 0  # a card's percent of list paid
    sets: int = 0  # a bundle's sets in the sale

    def __post_init__(self) -> None:
        if self.kind not in DISCOUNT_KINDS:
            raise InvalidDiscount(f"unknown discount kind {self.kind!r}; expected one of {DISCOUNT_KINDS}")
        for name in ("discount_fen", "price_fen", "rate", "sets"):
            check_int(getattr(self, name), f"a {self.kind} reason's {name}", 0, MAX_SALE_FEN, InvalidDiscount)
        if not self.discount_fen:
            raise InvalidDiscount(f"a {self.kind} reason takes something off")
        if (
            not isinstance(self.lines, tuple)
            or not self.lines
            or list(self.lines) != sorted(set(self.lines))
            or any(
                not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < MAX_SALE_LINES
                for i in self.lines
            )
        ):
            raise InvalidDiscount("a discount reason's lines are line indices, ascending, each once")

    def to_json(self) -> dict[str, Any]:
        """As a sale's entry carries it (protocol.contract.discounts.DISCOUNT_REASON)."""
        return {
            "code": self.code,
            "discount_fen": self.discount_fen,
            "kind": self.kind,
            "lines": list(self.lines),
            "price_fen": self.price_fen,
            "rate": self.rate,
            "sets": self.sets,
            "target": self.target,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DiscountReason:
        try:
            return cls(
                data["kind"],
                data["code"],
                data["target"],
                tuple(data["lines"]),
                data["discount_fen"],
                data["price_fen"],
                data["rate"],
                data["sets"],
            )
        except (KeyError, TypeError) as missing:
            raise InvalidDiscount(f"a stored discount reason lacks {missing}") from None


@dataclass(frozen=True, slots=True)
class Priced:
    """What each line pays after discounts and what was taken off it, in the sale's
    order, with one reason per discount applied."""

    amounts: tuple[int, ...]
    discounts: tuple[int, ...]
    reasons: tuple[DiscountReason, ...]

    def checked(self) -> Priced:
        """The pricing, once its laws hold (a bug of ours if not). `price` checks what it
        works out; `at_shelf`, which takes nothing off, needs no check, and a sale with
        nothing to discount is the till's commonest: checking it was an eighth of it."""
        require(len(self.amounts) == len(self.discounts), "a discount for every line priced")
        require(all(a >= 0 for a in self.amounts), "a line never pays below nothing")
        require(all(d >= 0 for d in self.discounts), "a discount never raises a line's price")
        require(
            sum(reason.discount_fen for reason in self.reasons) == sum(self.discounts),
            "the reasons add up to the sale's discount",
        )
        return self

    @property
    def total_fen(self) -> int:
        return sum(self.amounts)

    @property
    def discount_fen(self) -> int:
        return sum(self.discounts)


def spread(total_fen: int, weights: Sequence[int]) -> tuple[int, ...]:
    """`total_fen` split in proportion to `weights` by largest remainder: each takes the
    floor of its share, and the fen left over go one each to the largest remainders, ties
    to the earlier. The parts add up to `total_fen` exactly; a part is never above its
    weight when the total is not above the weights' sum."""
    whole = sum(weights)
    require(whole > 0 and all(w >= 0 for w in weights), "a spread has weights, none negative")
    require(total_fen >= 0, "a spread spreads nothing negative")
    parts = [total_fen * w // whole for w in weights]
    remainders = [total_fen * w % whole for w in weights]
    left = total_fen - sum(parts)
    for index in sorted(range(len(weights)), key=lambda i: (-remainders[i], i))[:left]:
        parts[index] += 1
    require(sum(parts) == total_fen, "the parts of a spread add up to its total")
    return tuple(parts)


_Record = TypeVar("_Record", SpecialPrice, Bundle, RebateRule)


def _unique(records: Iterable[_Record], kind: type[_Record], what: str) -> list[_Record]:
    """The records, each code once, in code order (errors.one_per_code)."""
    by_code = one_per_code(records, kind, what, InvalidDiscount)
    return [by_code[code] for code in sorted(by_code)]


def price(
    lines: Sequence[PriceLine],
    at_ms: int,
    specials: Iterable[SpecialPrice] = (),
    bundles: Iterable[Bundle] = (),
    card: CardDiscount | None = None,
) -> Priced:
    """What each of `lines` pays after the discounts in force at `at_ms` (module docstring)."""
    check_int(at_ms, "a sale's at_ms", 0, MAX_AT_MS, InvalidDiscount)
    if len(lines) > MAX_SALE_LINES or not all(isinstance(line, PriceLine) for line in lines):
        raise InvalidDiscount(f"a sale is at most {MAX_SALE_LINES} PriceLines")
    if card is not None and not isinstance(card, CardDiscount):
        raise InvalidDiscount("the card discount must be a CardDiscount")
    shelf: dict[str, int] = {}
    listed: dict[str, int] = {}
    for line in lines:
        if line.fixed:
            continue  # rule 6: a fixed line has no say in a product's price
        if (
            shelf.setdefault(line.sku, line.unit_price_fen) != line.unit_price_fen
            or listed.setdefault(line.sku, line.list_price_fen) != line.list_price_fen
        ):
            raise InvalidDiscount(f"two lines of {line.sku} at different prices: a product has one price")
    special: dict[str, SpecialPrice] = {}
    for candidate in _unique(specials, SpecialPrice, "special price"):
        held = special.get(candidate.sku)
        if (
            candidate.in_force(at_ms)
            and candidate.sku in shelf
            and (held is None or candidate.price_fen < held.price_fen)
        ):
            special[candidate.sku] = candidate  # codes come sorted: a tie keeps the smaller code
    rate = card.rate if card is not None and card.rate < 100 else None

    def unit_centi(sku: str) -> int:
        """A unit's best price outside a bundle (rule 2), exact, in hundredths of a fen."""
        options = [100 * shelf[sku]]
        if sku in special:
            options.append(100 * special[sku].price_fen)
        if rate is not None:
            options.append(listed[sku] * rate)
        return min(options)

    offers = []
    for bundle in _unique(bundles, Bundle, "bundle"):
        if bundle.in_force(at_ms) and all(sku in shelf for sku, _ in bundle.lines):
            saving = sum(qty * unit_centi(sku) for sku, qty in bundle.lines) - 100 * bundle.price_fen
            if saving > 0:
                offers.append((-saving, bundle.code, bundle))
    offers.sort(key=lambda offer: offer[:2])

    left = [0 if line.fixed else line.qty for line in lines]  # units bundles may take
    bundled = [0] * len(lines)
    reasons: list[DiscountReason] = []
    for _, _, bundle in offers:
        if len(reasons) == MAX_BUNDLES_PER_SALE:
            break
        sets = min(
            sum(left[i] for i, line in enumerate(lines) if line.sku == sku) // qty
            for sku, qty in bundle.lines
        )
        if not sets:
            continue
        taken: dict[int, int] = {}
        for sku, qty in bundle.lines:
            need = sets * qty
            for i, line in enumerate(lines):
                units = min(left[i], need) if line.sku == sku else 0
                if units:
                    taken[i] = taken.get(i, 0) + units
                    left[i] -= units
                    need -= units
            require(need == 0, "a bundle's sets are taken from units the sale holds")
        indices = tuple(sorted(taken))
        weights = [taken[i] * lines[i].unit_price_fen for i in indices]
        for i, share in zip(indices, spread(sets * bundle.price_fen, weights), strict=True):
            bundled[i] += share
        off = sum(weights) - sets * bundle.price_fen
        require(off > 0, "a bundle applies only where it costs less")
        reasons.append(DiscountReason("bundle", bundle.code, "", indices, off, bundle.price_fen, 0, sets))

    amounts: list[int] = []
    discounts: list[int] = []
    by_special: dict[str, tuple[list[int], int]] = {}
    card_lines: list[int] = []
    card_off = 0
    for i, line in enumerate(lines):
        if line.fixed:
            amounts.append(line.qty * line.unit_price_fen)  # rule 6: its given price
            discounts.append(0)
            continue
        units = left[i]
        paid, how = units * line.unit_price_fen, ""
        offer = special.get(line.sku)
        if units and offer is not None and units * offer.price_fen < paid:
            paid, how = units * offer.price_fen, "special"
        if units and rate is not None:
            card_amount = (2 * line.list_price_fen * units * rate + 99) // 200
            if card_amount < paid:
                paid, how = card_amount, "card"
        off = units * line.unit_price_fen - paid
        if how == "special" and offer is not None:
            found, total = by_special.get(offer.code, ([], 0))
            by_special[offer.code] = ([*found, i], total + off)
        elif how == "card":
            card_lines.append(i)
            card_off += off
        amount = bundled[i] + paid
        amounts.append(amount)
        discounts.append(line.qty * line.unit_price_fen - amount)
        require(
            0 <= amount <= line.qty * line.unit_price_fen, "a line pays between nothing and its shelf amount"
        )
    for code, (found, off) in sorted(by_special.items()):
        chosen = special[lines[found[0]].sku]
        reasons.append(DiscountReason("special", code, chosen.sku, tuple(found), off, chosen.price_fen))
    if card is not None and card_lines:
        reasons.append(
            DiscountReason("card", card.card_type, card.card, tuple(card_lines), card_off, 0, card.rate)
        )
    manual_lines = tuple(i for i, line in enumerate(lines) if line.manual_fen)
    for i in manual_lines:  # rule 7, on what the offers left each line to pay
        if lines[i].manual_fen > amounts[i]:
            raise ManualDiscountTooLarge(i, lines[i].sku, lines[i].manual_fen, amounts[i])
        amounts[i] -= lines[i].manual_fen
        discounts[i] += lines[i].manual_fen
    if manual_lines:
        manual_off = sum(lines[i].manual_fen for i in manual_lines)
        reasons.append(DiscountReason("manual", "", "", manual_lines, manual_off))
    return Priced(tuple(amounts), tuple(discounts), tuple(reasons)).checked()


def at_shelf(amounts: Sequence[int]) -> Priced:
    """What `price` gives lines no offer or card applies to: each pays its amount."""
    return Priced(tuple(amounts), (0,) * len(amounts), ())


def rebate_for(rules: Iterable[RebateRule], at_ms: int, spend_fen: int) -> RebateRule | None:
    """The rebate a sale spending `spend_fen` after discounts earns at `at_ms` (rule 5)."""
    check_int(at_ms, "a sale's at_ms", 0, MAX_AT_MS, InvalidDiscount)
    check_int(spend_fen, "a sale's spend", 0, MAX_SALE_FEN, InvalidDiscount)
    met = [
        rule
        for rule in _unique(rules, RebateRule, "rebate rule")
        if rule.in_force(at_ms) and rule.min_spend_fen <= spend_fen
    ]
    return min(met, key=lambda rule: (-rule.back_fen, -rule.min_spend_fen, rule.code), default=None)


def _zhe(rate: int) -> str:
    """A rate as a Chinese shop writes it: 85 -> "8.5" (八五折), 90 -> "9"."""
    tens, ones = divmod(rate, 10)
    return f"{tens}.{ones}" if ones else f"{tens}"


def explain_en(reason: DiscountReason) -> str:
    """The discount as a cashier reads it: "card G-0001 (GOLD): 85% of list, 30.00 yuan off"."""
    off = f"{format_yuan(reason.discount_fen)} yuan off"
    if reason.kind == "bundle":
        sets = "set" if reason.sets == 1 else "sets"
        return f"bundle {reason.code}: {reason.sets} {sets} at {format_yuan(reason.price_fen)} yuan, {off}"
    if reason.kind == "special":
        each = f"{format_yuan(reason.price_fen)} yuan each"
        return f"special price {reason.code}: {reason.target} at {each}, {off}"
    if reason.kind == "manual":
        return f"till discount: {off}"
    return f"card {reason.target} ({reason.code}): {reason.rate}% of list, {off}"


def explain_zh(reason: DiscountReason) -> str:
    """The same line in Chinese: "会员卡 G-0001（GOLD）：8.5折，优惠 30.00 元"."""
    off = f"优惠 {format_yuan(reason.discount_fen)} 元"
    if reason.kind == "bundle":
        return f"组合价 {reason.code}：{reason.sets} 组，每组 {format_yuan(reason.price_fen)} 元，{off}"
    if reason.kind == "special":
        return f"特价 {reason.code}：{reason.target} 每件 {format_yuan(reason.price_fen)} 元，{off}"
    if reason.kind == "manual":
        return f"收银折让：{off}"
    return f"会员卡 {reason.target}（{reason.code}）：{_zhe(reason.rate)}折，{off}"


def rebate_en(code: str, card: str, back_fen: int, min_spend_fen: int) -> str:
    return (
        f"rebate {code}: spent at least {format_yuan(min_spend_fen)} yuan,"
        f" {format_yuan(back_fen)} yuan back onto card {card}"
    )


def rebate_zh(code: str, card: str, back_fen: int, min_spend_fen: int) -> str:
    return f"满返 {code}：满 {format_yuan(min_spend_fen)} 元返 {format_yuan(back_fen)} 元储值到卡 {card}"


def shown(stored: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Discount reasons as a sale's entry carries them, with the words a person reads:
    `text` in English and `text_zh` in Chinese, made where they are shown."""
    found = []
    for fields in stored:
        reason = DiscountReason.from_json(fields)
        found.append({**fields, "text": explain_en(reason), "text_zh": explain_zh(reason)})
    return found
