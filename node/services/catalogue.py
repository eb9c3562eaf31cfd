"""The catalogue: HQ's master data (products, categories, suppliers, warehouses),
received through the feed and read by tills and stock documents.

HQ is the only writer of master data, so its latest version simply replaces
ours. Lookups here are what every stock document checks before it moves
anything: the product exists, the warehouse is one this branch keeps.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any, Literal, NamedTuple

from node.errors import InvalidRequest, NotFound, UnknownProduct, UnknownWarehouse, WarehouseElsewhere
from node.services import documents
from node.store.row_cache import ABSENT, rows_of
from protocol import limits

log = logging.getLogger(__name__)

PRODUCT_FIELDS = (
    "sku",
    "name",
    "price_fen",
    "unit",
    "active",
    "category",
    "spec",
    "model",
    "colour",
    "lower_limit",
    "upper_limit",
    "purchase_price_fen",
    "discount_mode",
    "discount_rate",
    "costing_method",
    "specified_cost_fen",
    "supplier",
    "service",
    "points_price",
    "barcode",
)
# Defaults for fields an older HQ does not send (a field not named here: null).
_PRODUCT_DEFAULTS: dict[str, Any] = {
    "unit": "pcs",
    "active": True,
    "purchase_price_fen": 0,
    "discount_mode": "none",
    "discount_rate": 100,
    "costing_method": "moving_average",
    "service": False,
}


_PRODUCT_COLUMNS = (
    "sku, name, price_fen, costing_method, purchase_price_fen, specified_cost_fen,"
    " lower_limit, upper_limit, supplier, discount_mode, discount_rate, service, category, points_price"
)


class Product(NamedTuple):
    sku: str
    name: str
    price_fen: int
    costing_method: str
    purchase_price_fen: int
    specified_cost_fen: int | None
    lower_limit: int | None
    upper_limit: int | None
    supplier: str | None
    discount_mode: str
    discount_rate: int
    service: bool  # a service item: sold and used on cards, no stock kept
    category: str | None  # what points rules by category go by
    points_price: int | None  # points per unit to redeem it (FEATURES L7); None: not redeemable


def upsert(conn: sqlite3.Connection, table: str, key: str, row: dict[str, Any]) -> None:
    """HQ's latest version of a master record replaces ours (a flag stored as 0 or 1)."""
    names = list(row)
    updates = ", ".join(f"{name} = excluded.{name}" for name in names if name != key)
    conn.execute(
        f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
        f" ON CONFLICT ({key}) DO UPDATE SET {updates}",
        [int(value) if isinstance(value, bool) else value for value in row.values()],
    )


def apply_product(conn: sqlite3.Connection, payload: dict[str, Any]) -> None:
    row = {name: payload.get(name, _PRODUCT_DEFAULTS.get(name)) for name in PRODUCT_FIELDS}
    rows = rows_of(conn)
    try:
        upsert(conn, "products", "sku", row)
    finally:
        # The only write of a product: the writer's cache reads it afresh next time.
        if rows is not None:
            rows.drop(("product", row["sku"]))


def apply_category(conn: sqlite3.Connection, payload: dict[str, Any]) -> None:
    upsert(conn, "categories", "code", {k: payload.get(k) for k in ("code", "name", "parent")})


def apply_supplier(conn: sqlite3.Connection, payload: dict[str, Any]) -> None:
    row = {k: payload.get(k) for k in ("code", "name", "contact", "phone")}
    row["active"] = bool(payload.get("active", True))
    upsert(conn, "suppliers", "code", row)


def apply_warehouse(conn: sqlite3.Connection, payload: dict[str, Any]) -> None:
    row = {k: payload.get(k) for k in ("code", "name", "branch")}
    row["active"] = bool(payload.get("active", True))
    upsert(conn, "warehouses", "code", row)


# A product as the writer's cache holds it: the product and whether it is active,
# or None for a sku the catalogue does not have.
_Held = tuple[Product, bool] | None


def _held(conn: sqlite3.Connection, sku: str) -> _Held:
    rows = rows_of(conn)
    if rows is not None:
        held = rows.get(("product", sku))
        if held is not ABSENT:
            return held  # type: ignore[no-any-return]
    row = conn.execute(f"SELECT {_PRODUCT_COLUMNS}, active FROM products WHERE sku = ?", (sku,)).fetchone()
    held = None if row is None else (Product(*row[:-1]), bool(row[-1]))
    if rows is not None:
        rows.remember(("product", sku), held)
    return held


def product(conn: sqlite3.Connection, sku: str, *, active_only: bool = True) -> Product:
    """A product of the catalogue. Goods of a product HQ has since withdrawn still
    move (a transfer in, a return), so the stock ledger asks with active_only=False."""
    held = _held(conn, sku)
    if held is None or (active_only and not held[1]):
        raise UnknownProduct(f"{sku} is not in this branch's catalogue (HQ has not published it, or a typo)")
    return held[0]


def active_products(conn: sqlite3.Connection, skus: Sequence[str]) -> dict[str, Product]:
    """The active products among `skus`, by sku (a sale's lines); a sku missing from
    the answer is not in the catalogue. The writer's cache answers what it holds,
    SQLite the rest in one read."""
    found: dict[str, Product] = {}
    rows = rows_of(conn)
    wanted = skus
    if rows is not None:
        wanted = []
        for sku in skus:
            held = rows.get(("product", sku))
            if held is ABSENT:
                wanted.append(sku)
            elif held is not None and held[1]:
                found[sku] = held[0]
        if not wanted:
            return found
    marks = ",".join("?" * len(wanted))
    read = {
        row[0]: (Product(*row[:-1]), bool(row[-1]))
        for row in conn.execute(
            f"SELECT {_PRODUCT_COLUMNS}, active FROM products WHERE sku IN ({marks})", tuple(wanted)
        )
    }
    for sku in wanted:
        held = read.get(sku)
        if rows is not None:
            rows.remember(("product", sku), held)
        if held is not None and held[1]:
            found[sku] = held[0]
    return found


def warehouse_branch(conn: sqlite3.Connection, code: str) -> str:
    """The branch that keeps warehouse `code`."""
    row = conn.execute("SELECT branch FROM warehouses WHERE code = ? AND active", (code,)).fetchone()
    if row is None:
        raise UnknownWarehouse(f"no warehouse {code} in HQ's master data as this branch has it")
    return str(row[0])


def own_warehouse(conn: sqlite3.Connection, code: str, branch: str, default: str) -> str:
    """`code` if this branch keeps it. A branch's main warehouse is its own from the
    start, before HQ's master data has reached it."""
    if code == default:
        return code
    keeper = warehouse_branch(conn, code)
    if keeper != branch:
        raise WarehouseElsewhere(f"warehouse {code} is kept by {keeper}, not this branch ({branch})")
    return code


def require_supplier(conn: sqlite3.Connection, code: str) -> str:
    if conn.execute("SELECT 1 FROM suppliers WHERE code = ? AND active", (code,)).fetchone() is None:
        raise NotFound(f"no supplier {code} in HQ's master data as this branch has it")
    return code


def sale_price(item: Product, member: bool) -> int:
    """The unit price a till charges: the list price, less the product's discount
    when it applies to everyone or to members and the buyer is one."""
    applies = item.discount_mode == "all" or (item.discount_mode == "member" and member)
    if not applies:
        return item.price_fen
    return (2 * item.price_fen * item.discount_rate + 100) // 200  # to the nearest fen


# The till's product search answers at most a screen of matches, in sku order; a longer
# word narrows it. A code asked for is a sku or a barcode, so at most the longer of the
# two; words at most a product's name.
MAX_FOUND = 50
MAX_CODE_CHARS = max(limits.MAX_NAME_CHARS, limits.MAX_BARCODE_CHARS)
MAX_WORDS_CHARS = limits.MAX_MASTER_NAME_CHARS


class ProductSearch(NamedTuple):
    """What the till searches the catalogue for: `code`, a sku or barcode matched exactly
    (what a scanner types, or a cashier keys in); `words`, a part of a name, sku or
    barcode, in any case of its Latin letters."""

    by: Literal["code", "words"]
    text: str


def parse_search(query: Mapping[str, str]) -> ProductSearch | None:
    """?code= or ?q= of a catalogue listing; None for neither (the whole catalogue).
    Spaces at either end go: a scanner's or a cashier's stray one is in no sku or barcode."""
    if "code" in query and "q" in query:
        raise InvalidRequest("give ?code= (a sku or barcode, exactly) or ?q= (words to look for), not both")
    if "code" in query:
        return ProductSearch("code", _asked(query, "code", MAX_CODE_CHARS))
    if "q" in query:
        return ProductSearch("words", _asked(query, "q", MAX_WORDS_CHARS))
    return None


def _asked(query: Mapping[str, str], name: str, max_chars: int) -> str:
    text = query[name].strip()
    if not 0 < len(text) <= max_chars:
        raise InvalidRequest(f"?{name}= must be 1 to {max_chars} characters, not {len(text)}")
    return text


def products_at(
    conn: sqlite3.Connection, warehouse: str, search: ProductSearch | None = None
) -> list[dict[str, Any]]:
    """The active catalogue as a till shows it, with what `warehouse` has on hand (none
    for a service item, which is never stocked); with `search`, only its matches, at
    most MAX_FOUND."""
    where = ""
    args: tuple[str, ...] = ()
    if search is not None and search.by == "code":
        # Both sides indexed (the key, products_by_barcode): a scan is found at once.
        where, args = " AND (p.sku = ? OR p.barcode = ?)", (search.text, search.text)
    elif search is not None:
        # instr, not LIKE: a % or _ typed is looked for as itself. lower() on both sides
        # folds Latin letters alike, and leaves the rest (Chinese has no case) as typed.
        where = (
            " AND (instr(lower(p.name), lower(?)) OR instr(lower(p.sku), lower(?))"
            " OR instr(lower(p.barcode), lower(?)))"
        )
        args = (search.text,) * 3
    products = documents.rows(
        conn,
        "SELECT p.sku, p.name, p.price_fen, p.unit, p.category, p.spec, p.model, p.colour, p.barcode,"
        " p.discount_mode, p.discount_rate, p.costing_method, p.service, p.points_price,"
        " CASE WHEN p.service THEN NULL ELSE COALESCE(s.qty, 0) END AS stock_qty"
        " FROM products p LEFT JOIN stock s ON s.sku = p.sku AND s.warehouse = ?"
        f" WHERE p.active{where} ORDER BY p.sku" + ("" if search is None else f" LIMIT {MAX_FOUND}"),
        (warehouse, *args),
    )
    for item in products:
        item["service"] = bool(item["service"])
    return products


def active_warehouses(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    return documents.rows(conn, "SELECT code, name, branch FROM warehouses WHERE active ORDER BY code")
