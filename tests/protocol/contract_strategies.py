"""Hypothesis strategies and mutations derived mechanically from the contract's schemas.

`values(schema)` draws values that keep a schema, so every entry type gets random
valid payloads for free. `mutations(schema, value)` lists every way to break one
such value in one place (a required field removed, a wrong type, a float, a bound
exceeded by one, an unknown key in a closed map) with the path the refusal must name.
"""

from __future__ import annotations

import copy
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

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
    Where,
)

# Lists are drawn this long at most, so any payload fits the 64 KiB entry bound;
# payloads at the schemas' full list bounds are a separate test.
MAX_DRAWN_ITEMS = 3
# A key no schema names, for open maps (accepted) and closed ones (refused).
UNKNOWN_KEY = "added_by_a_newer_writer"


def values(schema: Schema, max_items: int = MAX_DRAWN_ITEMS) -> st.SearchStrategy[Any]:
    """Values that keep `schema`; open maps sometimes carry a key they do not name."""
    if isinstance(schema, Text):
        if schema.pattern is not None:
            return st.from_regex(schema.pattern, fullmatch=True).filter(
                lambda text: schema.min_chars <= len(text) <= schema.max_chars
            )
        return st.text(min_size=schema.min_chars, max_size=schema.max_chars)
    if isinstance(schema, Choice):
        return st.sampled_from(schema.values)
    if isinstance(schema, Integer):
        return st.integers(schema.low, schema.high)
    if isinstance(schema, Bool):
        return st.booleans()
    if isinstance(schema, Bytes):
        return st.binary(min_size=schema.min_len, max_size=schema.max_len)
    if isinstance(schema, Nullable):
        return st.none() | values(schema.inner, max_items)
    if isinstance(schema, Where):
        return values(schema.inner, max_items).filter(lambda value: schema.rule(value) is None)
    if isinstance(schema, ListOf):
        high = max(schema.min_items, min(schema.max_items, max_items))
        return st.lists(values(schema.item, max_items), min_size=schema.min_items, max_size=high)
    if isinstance(schema, Tuple):
        # The required positions, then any number of the optional ones in order.
        fixed = st.tuples(*(values(item, max_items) for item in schema.items)).map(list)
        tails = [
            st.tuples(*(values(item, max_items) for item in schema.optional[:count])).map(list)
            for count in range(len(schema.optional) + 1)
        ]
        return st.tuples(fixed, st.one_of(tails)).map(lambda parts: parts[0] + parts[1])
    if isinstance(schema, OneOf):
        return st.one_of([values(schema.with_tag(name), max_items) for name in schema.variants])
    if isinstance(schema, Map):
        drawn = st.fixed_dictionaries(
            {key: values(field, max_items) for key, field in schema.required.items()},
            optional={key: values(field, max_items) for key, field in schema.optional.items()},
        )
        if schema.at_least_one:
            drawn = drawn.filter(bool)
        if schema.closed:
            return drawn
        return st.tuples(drawn, st.booleans()).map(
            lambda pair: {**pair[0], UNKNOWN_KEY: [1, "two"]} if pair[1] else pair[0]
        )
    raise TypeError(f"no strategy for {type(schema).__name__}")


def holds(value: Any, key: str) -> bool:
    """Whether any map in `value`, at any depth, holds `key` (UNKNOWN_KEY, say)."""
    if isinstance(value, dict):
        return key in value or any(holds(item, key) for item in value.values())
    return isinstance(value, list | tuple) and any(holds(item, key) for item in value)


def largest(schema: Schema) -> Any:
    """The largest value `schema` allows: every optional key, every list full, every
    text at its longest in 3-byte characters, every integer at its widest."""
    if isinstance(schema, Text):
        if schema.pattern is not None:
            # The patterns in use take letters; a permission needs its colon, a password
            # hash its prefix, a date its digits, a photo's hash its name, a time of day
            # its hours and minutes.
            n = schema.max_chars
            for candidate in (
                "A" * n,
                "a" * (n // 2) + ":" + "a" * (n - n // 2 - 1),
                "$argon2id$" + "A" * (n - 10),
                "2026-11-30"[:n],
                "sha256:" + "a" * (n - 7),  # a photo's reference
                "23:59"[:n],
            ):
                if re.fullmatch(schema.pattern, candidate):
                    return candidate
            raise TypeError(f"no largest text for the pattern {schema.pattern}")
        return "界" * schema.max_chars
    if isinstance(schema, Choice):
        return max(schema.values, key=len)
    if isinstance(schema, Integer):
        return schema.low if len(str(schema.low)) > len(str(schema.high)) else schema.high
    if isinstance(schema, Bool):
        return True
    if isinstance(schema, Bytes):
        return bytes(schema.max_len)
    if isinstance(schema, Nullable):
        return largest(schema.inner)
    if isinstance(schema, Where):
        return _largest_keeping_rule(schema)
    if isinstance(schema, ListOf):
        return [largest(schema.item)] * schema.max_items
    if isinstance(schema, Tuple):
        return [largest(item) for item in (*schema.items, *schema.optional)]
    if isinstance(schema, OneOf):
        candidates = [largest(schema.with_tag(name)) for name in schema.variants]
        return max(candidates, key=lambda value: len(repr(value)))
    if isinstance(schema, Map):
        return {key: largest(field) for key, field in (*schema.required.items(), *schema.optional.items())}
    raise TypeError(f"no largest value for {type(schema).__name__}")


def _largest_keeping_rule(schema: Where) -> Any:
    """The inner schema's largest value; if that breaks the rule (a report_lost with a full
    list of seen events), the largest with another word in one of its word fields."""
    value = largest(schema.inner)
    if schema.rule(value) is None:
        return value
    if isinstance(schema.inner, Map):
        fields = {**schema.inner.required, **schema.inner.optional}
        choices = [
            [(key, word) for word in sorted(field.values, key=len, reverse=True)]
            for key, field in fields.items()
            if isinstance(field, Choice)
        ]
        # One word field changed, then two (a uses movement with an item needs both
        # its ledger and its kind to be the uses ledger's).
        for count in (1, 2):
            for picked in itertools.combinations(choices, count):
                for words in itertools.product(*picked):
                    candidate = {**value, **dict(words)}
                    if schema.rule(candidate) is None:
                        return candidate
        # Or one optional field left out (a card type runs for days or to a date, not both).
        for key in schema.inner.optional:
            candidate = {name: held for name, held in value.items() if name != key}
            if schema.rule(candidate) is None:
                return candidate
    raise TypeError(f"no largest value of {schema.describe()} keeps its rule")


@dataclass(frozen=True)
class Mutation:
    """One way to break a valid value: what was done, where, and the path the refusal names."""

    what: str
    at: tuple[str | int, ...]  # keys and indexes down to the value changed
    expected_path: str
    replacement: Any = None
    remove: bool = False

    def apply(self, value: Any) -> Any:
        broken = copy.deepcopy(value)
        if not self.at:
            return self.replacement
        parent = broken
        for step in self.at[:-1]:
            parent = parent[step]
        if self.remove:
            del parent[self.at[-1]]
        else:
            parent[self.at[-1]] = self.replacement
        return broken


def render(at: tuple[str | int, ...]) -> str:
    text = ""
    for step in at:
        if isinstance(step, int):
            text += f"[{step}]"
        else:
            text += f".{step}" if text else step
    return text


# A value of a clearly different type for each kind of schema.
def _wrong_type(schema: Schema) -> Any:
    if isinstance(schema, Nullable):
        return _wrong_type(schema.inner)
    if isinstance(schema, Text | Choice | Bytes):
        return 7
    if isinstance(schema, Integer | Bool):
        return "7"
    if isinstance(schema, ListOf | Tuple):
        return {"not": "a list"}
    return ["not", "a map"]


def mutations(schema: Schema, value: Any, at: tuple[str | int, ...] = ()) -> Iterator[Mutation]:
    """Every single-place break of `value` (which keeps `schema`) the schema must refuse."""
    where = render(at)
    if isinstance(schema, Nullable):
        if value is not None:
            yield from mutations(schema.inner, value, at)
        else:
            yield Mutation("wrong type", at, where, _wrong_type(schema))
        return
    if isinstance(schema, Where):
        yield from mutations(schema.inner, value, at)
        # Within the inner schema but across the rule: each field the rule reads, set
        # so that it no longer holds (a ledger movement's amount with the wrong sign).
        for key, candidate in (("amount", -value.get("amount", 0)), ("amount", 0)):
            broken = {**value, key: candidate}
            if key in value and schema.rule(broken) is not None:
                key_at = (*at, key)
                yield Mutation("across the rule", key_at, render(key_at), candidate)
        return
    yield Mutation("wrong type", at, where, _wrong_type(schema))
    if isinstance(schema, Integer):
        yield Mutation("a float", at, where, float(value))
        yield Mutation("a bool", at, where, True)
        yield Mutation("below the bound by one", at, where, schema.low - 1)
        yield Mutation("above the bound by one", at, where, schema.high + 1)
    elif isinstance(schema, Text):
        yield Mutation("longer than the bound by one", at, where, "A" * (schema.max_chars + 1))
        if schema.min_chars > 0:
            yield Mutation("empty", at, where, "")
        if schema.pattern is not None:
            # A dash is off most patterns; a barcode takes one, never a space.
            size = max(schema.min_chars, 1)
            off = next(c * size for c in "- " if not re.fullmatch(schema.pattern, c * size))
            yield Mutation("off the pattern", at, where, off)
    elif isinstance(schema, Choice):
        yield Mutation("an unknown word", at, where, "not-a-known-word")
    elif isinstance(schema, Bytes):
        yield Mutation("longer than the bound by one", at, where, bytes(schema.max_len + 1))
    elif isinstance(schema, ListOf):
        if value:
            yield Mutation(
                "one item too many", at, where, list(value) + [value[0]] * (schema.max_items + 1 - len(value))
            )
        if schema.min_items > 0:
            yield Mutation("empty", at, where, [])
        for number, item in enumerate(value):
            yield from mutations(schema.item, item, (*at, number))
    elif isinstance(schema, Tuple):
        if len(value) == len(schema.items):
            yield Mutation("one item short", at, where, list(value)[:-1])
        if len(value) == len(schema.items) + len(schema.optional):
            yield Mutation("one item too many", at, where, [*value, value[-1]])
        positions = (*schema.items, *schema.optional)
        for number, item in enumerate(value):
            yield from mutations(positions[number], item, (*at, number))
    elif isinstance(schema, OneOf):
        tag_at = (*at, schema.tag)
        yield Mutation("an unknown variant", tag_at, render(tag_at), "not-a-known-variant")
        yield Mutation("no tag", tag_at, render(tag_at), remove=True)
        chosen = schema.with_tag(value[schema.tag])
        # The variant's own breaks, less the whole-map ones just listed for the one-of.
        yield from (mutation for mutation in mutations(chosen, value, at) if mutation.at != at)
    elif isinstance(schema, Map):
        for key, field in schema.required.items():
            key_at = (*at, key)
            yield Mutation("a required field removed", key_at, render(key_at), remove=True)
            yield from mutations(field, value[key], key_at)
        for key, field in schema.optional.items():
            if key in value:
                yield from mutations(field, value[key], (*at, key))
        if schema.closed:
            key_at = (*at, UNKNOWN_KEY)
            yield Mutation("an unknown field in a closed map", key_at, render(key_at), 1)
        if schema.at_least_one:
            yield Mutation("nothing in a map that needs something", at, where, {})
