"""Cost of goods per product and warehouse: FIFO, LIFO, moving average or a specified cost.

Stock is a list of cost layers, each a quantity and the total cost of that
quantity in integer fen. Costs are totals, never unit prices, so splitting a
layer moves whole fen and nothing is lost to rounding: issuing a whole layer
takes exactly its cost, and any part takes its share rounded to the nearest fen
with the rest staying on hand. Every operation returns a new state.

Conservation, the invariant the tests check for every method and sequence:
    cost received = cost issued + corrections + variances + cost on hand.

Selling into negative stock. A branch must never be stopped from selling
because its count is behind (it may be offline, the goods are in the
customer's hands). Units issued beyond stock are costed provisionally at the
last known unit cost (or the product's preset purchase price) and held as a
negative layer. The receipt that later covers them books the difference
between their actual and provisional cost as a `correction` to cost of goods,
so cost is never lost, and the receipt's remaining units become stock as usual.

A customer's return into negative stock is the other way round: what comes back
first fills the short at the provisional cost it was issued at (its cost never
happened, so nothing is corrected), and the rest of the return's cost goes to the
units left over. A sale that ran past the stock and its full return so leave the
stock exactly as it was. Only a return too small in cost to fill the short at
its provisional cost, or one with no units left over to carry the rest, books
the difference as a correction.

Specified cost. Stock is carried at the product's specified unit cost; a
receipt's difference from it is a purchase price `variance`, not stock value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from protocol.errors import InvariantBroken

__all__ = ["METHODS", "CostState", "CostingError", "Issued", "Layer", "Received", "issue", "receive"]

METHODS = ("fifo", "lifo", "moving_average", "specified")


class CostingError(InvariantBroken):
    """Ours: a costing call that cannot be right (an unknown method, a zero or negative
    quantity, a negative cost, a specified-cost product without its cost). The shells
    check input before they cost it, so reaching this is a bug."""


# Layers and the results of a movement are tuples: every movement of stock makes
# a few, and a tuple is built several times faster than a frozen dataclass.
class Layer(NamedTuple):
    """`qty` units costing `cost_fen` in total; negative both for units sold ahead of stock."""

    qty: int
    cost_fen: int


@dataclass(frozen=True, slots=True)
class CostState:
    method: str
    layers: tuple[Layer, ...] = ()  # oldest first; never mixes positive and negative layers
    last_unit_fen: int = 0  # the unit cost units sold beyond stock are provisionally costed at
    specified_unit_fen: int | None = None

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise CostingError(f"unknown costing method {self.method!r}; expected one of {METHODS}")
        if self.method == "specified" and (self.specified_unit_fen is None or self.specified_unit_fen < 0):
            raise CostingError("a product costed at a specified cost needs specified_unit_fen >= 0")

    # Asked several times for every movement; most stock is one layer.
    @property
    def qty(self) -> int:
        layers = self.layers
        return layers[0].qty if len(layers) == 1 else sum([layer.qty for layer in layers])

    @property
    def cost_fen(self) -> int:
        layers = self.layers
        return layers[0].cost_fen if len(layers) == 1 else sum([layer.cost_fen for layer in layers])


class Received(NamedTuple):
    state: CostState
    correction_fen: int  # actual minus provisional cost of earlier oversold units now covered
    variance_fen: int  # specified cost only: actual minus specified cost of the units received


class Issued(NamedTuple):
    state: CostState
    cost_fen: int  # cost of goods of the units issued
    provisional_qty: int  # of which issued beyond stock, at the provisional unit cost


def receive(state: CostState, qty: int, cost_fen: int, *, returned: bool = False) -> Received:
    """`qty` units arrive costing `cost_fen` in total (a purchase receipt, a transfer
    in at its transferred cost, or, `returned`, a customer return at the cost it was
    sold at: it fills a short at its provisional cost, module docstring)."""
    if type(qty) is not int or type(cost_fen) is not int or qty <= 0 or cost_fen < 0:
        _check(qty, cost_fen)
    variance = 0
    if state.method == "specified":
        assert state.specified_unit_fen is not None
        booked = qty * state.specified_unit_fen
        variance, cost_fen = cost_fen - booked, booked
    correction = 0
    layers = list(state.layers)
    if layers and layers[0].qty < 0:
        (short,) = layers  # negative stock is always one merged layer
        covered = min(qty, -short.qty)
        provisional = _share(-short.cost_fen, covered, -short.qty)
        if not returned:
            actual = _share(cost_fen, covered, qty)
        elif covered < qty:
            actual = min(provisional, cost_fen)
        else:
            actual = cost_fen  # no unit left over to carry the rest of the cost
        correction = actual - provisional
        rest = Layer(short.qty + covered, short.cost_fen + provisional)
        layers = [rest] if rest.qty else []
        qty, cost_fen = qty - covered, cost_fen - actual
    if qty:
        if state.method in ("moving_average", "specified") and layers:
            (held,) = layers
            layers = [Layer(held.qty + qty, held.cost_fen + cost_fen)]
        else:
            layers.append(Layer(qty, cost_fen))
    unit = state.last_unit_fen
    if qty:
        unit = _round_div(cost_fen, qty) if state.method != "moving_average" else _unit(layers[0])
    return Received(_evolved(state, tuple(layers), unit), correction, variance)


def issue(state: CostState, qty: int) -> Issued:
    """`qty` units leave (a sale, a transfer out, a purchase return, a stocktake loss)."""
    if type(qty) is not int or qty <= 0:
        _check(qty, 0)
    layers = list(state.layers)
    cost = 0
    remaining = qty
    while remaining and layers and layers[0].qty > 0:
        at = 0 if state.method != "lifo" else len(layers) - 1
        layer = layers[at]
        take = min(remaining, layer.qty)
        taken = layer.cost_fen if take == layer.qty else _share(layer.cost_fen, take, layer.qty)
        if state.method == "specified":
            assert state.specified_unit_fen is not None
            taken = take * state.specified_unit_fen  # carried at exactly that cost
        cost += taken
        remaining -= take
        if take == layer.qty:
            layers.pop(at)
        else:
            layers[at] = Layer(layer.qty - take, layer.cost_fen - taken)
    unit = state.last_unit_fen
    if state.method == "specified":
        assert state.specified_unit_fen is not None
        unit = state.specified_unit_fen
    if remaining:
        provisional = remaining * unit
        cost += provisional
        short = layers.pop() if layers else Layer(0, 0)
        layers = [Layer(short.qty - remaining, short.cost_fen - provisional)]
    return Issued(_evolved(state, tuple(layers), state.last_unit_fen), cost, remaining)


def _evolved(state: CostState, layers: tuple[Layer, ...], last_unit_fen: int) -> CostState:
    # dataclasses.replace, spelled out: it walks the fields generically, and this runs
    # for every movement of stock.
    return CostState(state.method, layers, last_unit_fen, state.specified_unit_fen)


def _check(qty: int, cost_fen: int) -> None:
    # The slow path of the checks `receive` and `issue` make inline: names what is wrong.
    for value, name in ((qty, "qty"), (cost_fen, "cost_fen")):
        if not isinstance(value, int) or isinstance(value, bool):
            raise CostingError(f"{name} must be an integer (fen for costs), not {type(value).__name__}")
    if qty <= 0:
        raise CostingError("qty must be positive; a movement out is an issue, in a receipt")
    if cost_fen < 0:
        raise CostingError("cost_fen cannot be negative")


def _share(total: int, part: int, whole: int) -> int:
    """`total` * part / whole, to the nearest fen (half up)."""
    return _round_div(total * part, whole)


def _round_div(numerator: int, denominator: int) -> int:
    return (2 * numerator + denominator) // (2 * denominator)


def _unit(layer: Layer) -> int:
    return _round_div(layer.cost_fen, layer.qty) if layer.qty > 0 else 0
