"""A schema as one generated Python function that answers only "keeps it or not".

Every entry a node records, every branch entry HQ plans and every feed entry a
node applies is held to its schema, so the check is on every hot path there is.
The closures of protocol.schema find the precise path and rule of a refusal;
this module writes the same checks out as the straight-line source of one
function per schema (nested maps and lists inlined, no call per field, no
string work), compiled once. `guarded` puts the two together: the generated
function answers a valid payload, and only a payload it refuses is checked again
by the closures, which raise the PayloadInvalid naming the path and the rule.

Rules: the generated check accepts exactly what the closures accept (the tests
hold both to every entry type's drawn values and every single-place break of
them); a disagreement is a bug and raises InvariantBroken, never passes quietly.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from protocol.errors import InvariantBroken
from protocol.schema import (
    Bool,
    Bytes,
    Choice,
    Integer,
    ListOf,
    Map,
    Nullable,
    OneOf,
    Schema,
    Text,
    Tuple,
    Validator,
    Where,
)

Keeps = Callable[[Any], bool]
KeepsCanonically = Callable[[Any], int]
REFUSED, KEPT, CANONICAL = 0, 1, 2

_ABSENT = object()  # a key not in the map (None is a value: null)


class _Source:
    """The function's lines and the constants they name."""

    def __init__(self, *, ordered: bool, whole: bool = False) -> None:
        self.ordered = ordered
        self.whole = whole  # every map is held to the keys it names, as if closed
        self.lines: list[str] = []
        self.constants: dict[str, Any] = {"_ABSENT": _ABSENT}
        self._numbers = itertools.count()

    def name(self, prefix: str) -> str:
        return f"{prefix}{next(self._numbers)}"

    def constant(self, value: Any) -> str:
        named = self.name("c")
        self.constants[named] = value
        return named

    def refuse_if(self, depth: int, condition: str) -> None:
        self.lines.append(f"{'    ' * depth}if {condition}:")
        self.lines.append(f"{'    ' * (depth + 1)}return False")

    def line(self, depth: int, text: str) -> None:
        self.lines.append(f"{'    ' * depth}{text}")


def _is_list(var: str) -> str:
    return f"(type({var}) is not list and type({var}) is not tuple)"


def _emit(schema: Schema, var: str, depth: int, source: _Source) -> None:
    """Lines that return False unless `var` keeps `schema` (protocol.schema's rules);
    with `source.ordered`, lines that also clear `canonical` unless each of its maps
    holds only the keys the schema names, in sorted order."""
    if isinstance(schema, Integer):
        source.refuse_if(depth, f"type({var}) is not int or not {schema.low} <= {var} <= {schema.high}")
    elif isinstance(schema, Text):
        low, high = schema.min_chars, schema.max_chars
        source.refuse_if(depth, f"type({var}) is not str or not {low} <= len({var}) <= {high}")
        if schema.pattern is not None:
            match = source.constant(re.compile(schema.pattern).fullmatch)
            source.refuse_if(depth, f"{match}({var}) is None")
    elif isinstance(schema, Choice):
        words = source.constant(frozenset(schema.values))
        source.refuse_if(depth, f"type({var}) is not str or {var} not in {words}")
    elif isinstance(schema, Bool):
        source.refuse_if(depth, f"type({var}) is not bool")
    elif isinstance(schema, Bytes):
        low, high = schema.min_len, schema.max_len
        source.refuse_if(depth, f"type({var}) is not bytes or not {low} <= len({var}) <= {high}")
    elif isinstance(schema, Nullable):
        source.line(depth, f"if {var} is not None:")
        _emit(schema.inner, var, depth + 1, source)
    elif isinstance(schema, ListOf):
        low, high = schema.min_items, schema.max_items
        source.refuse_if(depth, f"{_is_list(var)} or not {low} <= len({var}) <= {high}")
        item = source.name("v")
        source.line(depth, f"for {item} in {var}:")
        _emit(schema.item, item, depth + 1, source)
    elif isinstance(schema, Tuple):
        low = len(schema.items)
        high = low + len(schema.optional)
        source.refuse_if(depth, f"{_is_list(var)} or not {low} <= len({var}) <= {high}")
        for number, item_schema in enumerate(schema.items):
            item = source.name("v")
            source.line(depth, f"{item} = {var}[{number}]")
            _emit(item_schema, item, depth, source)
        for number, item_schema in enumerate(schema.optional, start=low):
            item = source.name("v")
            source.line(depth, f"if len({var}) > {number}:")
            source.line(depth + 1, f"{item} = {var}[{number}]")
            _emit(item_schema, item, depth + 1, source)
    elif isinstance(schema, Map):
        _emit_map(schema, var, depth, source)
    elif isinstance(schema, OneOf):
        source.refuse_if(depth, f"type({var}) is not dict")
        tag = source.name("v")
        source.line(depth, f"{tag} = {var}.get({schema.tag!r}, _ABSENT)")
        source.refuse_if(depth, f"type({tag}) is not str")
        for number, name in enumerate(schema.variants):
            source.line(depth, f"{'if' if number == 0 else 'elif'} {tag} == {name!r}:")
            _emit_map(schema.with_tag(name), var, depth + 1, source)
        source.line(depth, "else:")
        source.line(depth + 1, "return False")
    elif isinstance(schema, Where):
        _emit(schema.inner, var, depth, source)
        rule = source.constant(schema.rule)
        source.refuse_if(depth, f"{rule}({var}) is not None")
    else:
        raise InvariantBroken(f"no source for a {type(schema).__name__} schema")


def _emit_map(schema: Map, var: str, depth: int, source: _Source) -> None:
    source.refuse_if(depth, f"type({var}) is not dict")
    orders = _sorted_orders(schema) if source.ordered else None
    closed = schema.closed or source.whole
    counted = closed or schema.at_least_one or (source.ordered and orders is None)
    present = source.name("n")
    if counted:
        source.line(depth, f"{present} = {len(schema.required)}")
    # A key left out comes back as _ABSENT, which no schema keeps: that refuses a
    # missing required field with no test of its own.
    for key, field in schema.required.items():
        found = source.name("v")
        source.line(depth, f"{found} = {var}.get({key!r}, _ABSENT)")
        _emit(field, found, depth, source)
    for key, field in schema.optional.items():
        found = source.name("v")
        source.line(depth, f"{found} = {var}.get({key!r}, _ABSENT)")
        source.line(depth, f"if {found} is not _ABSENT:")
        if counted:
            source.line(depth + 1, f"{present} += 1")
        _emit(field, found, depth + 1, source)
    if schema.at_least_one:
        source.refuse_if(depth, f"not {present}")
    if closed:
        source.refuse_if(depth, f"{present} != len({var})")
    if source.ordered:
        # A key the schema does not name may hold anything (a float, a map out of
        # order): the walk of protocol.codec decides for such a payload.
        if orders is None:
            source.line(depth, f"if canonical and ({present} != len({var}) or [*{var}] != sorted({var})):")
        else:
            # Every order of keys that is canonical here, known in advance: one tuple
            # looked up, a third of the cost of sorting the keys of every map.
            source.line(depth, f"if canonical and tuple({var}) not in {source.constant(orders)}:")
        source.line(depth + 1, "canonical = False")


# 2**8 orders at most, made once per schema when it is compiled.
MAX_OPTIONAL_ENUMERATED = 8


def _sorted_orders(schema: Map) -> frozenset[tuple[str, ...]] | None:
    """The keys, in sorted order, of every map that holds only keys `schema` names and
    all its required ones (None if it has too many optional keys to list them)."""
    optional = list(schema.optional)
    if len(optional) > MAX_OPTIONAL_ENUMERATED:
        return None
    required = list(schema.required)
    return frozenset(
        tuple(sorted([*required, *chosen]))
        for size in range(len(optional) + 1)
        for chosen in itertools.combinations(optional, size)
    )


def keeps(label: str, schema: Schema) -> Keeps:
    """The generated function: True if a value keeps `schema`, False if not."""
    source = _Source(ordered=False)
    _emit(schema, "value", 1, source)
    return _compiled(label, "keeps", [*source.lines, "    return True"], source)


def keeps_whole(label: str, schema: Schema) -> Keeps:
    """The generated function: True if a value keeps `schema` and its maps hold only the
    keys it names, open maps too, so that every value in it has a type the schema names
    (no float, no key that is not text: what protocol.codec's walk would refuse)."""
    source = _Source(ordered=False, whole=True)
    _emit(schema, "value", 1, source)
    return _compiled(label, "keeps_whole", [*source.lines, "    return True"], source)


def keeps_canonically(label: str, schema: Schema) -> KeepsCanonically:
    """The generated function: REFUSED, KEPT, or CANONICAL for a value that keeps
    `schema` and whose maps hold only the keys it names, each in sorted order (so
    msgpack writes its canonical bytes as it stands, with no walk of protocol.codec)."""
    source = _Source(ordered=True)
    _emit(schema, "value", 1, source)
    lines = ["    canonical = True", *source.lines, f"    return {CANONICAL} if canonical else {KEPT}"]
    return _compiled(label, "keeps_canonically", lines, source)


def _compiled(label: str, name: str, body: list[str], source: _Source) -> Callable[[Any], Any]:
    text = "\n".join([f"def {name}(value):", *body, ""])
    namespace = dict(source.constants)
    exec(compile(text, f"<schema of {label}>", "exec"), namespace)
    function: Callable[[Any], Any] = namespace[name]
    return function


@dataclass(frozen=True, slots=True)
class Guarded:
    """A schema's generated checks in front of its closures (protocol.schema.Validator):
    each returns for a value that keeps it, else raises the closures' PayloadInvalid."""

    keeps: Keeps
    keeps_canonically: KeepsCanonically
    keeps_whole: Keeps
    validator: Validator

    @property
    def label(self) -> str:
        return self.validator.label

    def __call__(self, value: Any) -> None:
        if not self.keeps(value):
            self._refuse(value)

    def canonical(self, value: Any) -> bool:
        """Check `value` as calling this does; True if msgpack writes it canonically as
        it stands (see keeps_canonically), False if it needs protocol.codec's walk."""
        kept = self.keeps_canonically(value)
        if kept == REFUSED:
            self._refuse(value)
        return kept == CANONICAL

    def _refuse(self, value: Any) -> None:
        self.validator(value)  # raises PayloadInvalid with the path and the rule
        raise InvariantBroken(f"the generated check of {self.label} refused what its schema keeps")


def guarded(validator: Validator) -> Guarded:
    label, schema = validator.label, validator.schema
    return Guarded(
        keeps(label, schema), keeps_canonically(label, schema), keeps_whole(label, schema), validator
    )
