"""A small declarative language for payload schemas, compiled once into closures.

Rules:
1. A schema is data: frozen dataclasses a reader can print, walk (tests derive
   Hypothesis strategies from them) and compare. `validator` compiles one into
   a tree of plain closures, so checking a payload is direct calls with no
   interpretation left on the hot path.
2. Types are exact, as the wire carries them: an integer is an `int` and never a
   `bool`, text is a `str`, a map a `dict`. A float is never a number here,
   because money is integer fen. A list may also be a tuple, the same msgpack array.
3. Every bound is inclusive and stated: text in characters, bytes and lists in
   items, integers from low to high.
4. A map names its required and optional keys and is open or closed to keys it
   does not name. Open: a newer writer's field, ignored by an older reader.
   Closed: the key set is the data itself, and a key the reader does not know
   would be misread, so it is refused.
5. One-of picks a map by a tag field (a tender's `kind`); each variant is a
   closed or open map of its own, and the tag is required in every variant.
6. A rule across a map's fields (a ledger movement's sign follows its kind) is a
   `Where`: the map is checked first, then the rule, which names the field it
   refuses; it is a plain function of the checked value, so readers can run it.
7. A path is built only when a check fails: the failing closure raises, and each
   container it sits in adds its key or index on the way out, so a valid payload
   costs no string work at all. The refusal is `PayloadInvalid`, naming the path
   (`lines[3].qty`) and the rule.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, NoReturn

from protocol.errors import InvariantBroken, PayloadInvalid

__all__ = [
    "Bool",
    "Bytes",
    "Choice",
    "Integer",
    "ListOf",
    "Map",
    "Nullable",
    "OneOf",
    "Schema",
    "Text",
    "Tuple",
    "Validator",
    "Where",
    "validator",
]

Check = Callable[[Any], None]

# A refused value is quoted in the message up to this many characters: enough to
# recognise it, never a hostile megabyte copied into a log line.
MAX_QUOTED_CHARS = 40


class _Violation(Exception):
    """A rule broken at a path gathered innermost first, on the way out. Never leaves this module."""

    def __init__(self, rule: str, segment: str | None = None) -> None:
        super().__init__(rule)
        self.rule = rule
        self.segments: list[str] = [] if segment is None else [segment]

    def path(self) -> str:
        text = ""
        for segment in reversed(self.segments):
            text += segment if segment.startswith("[") or not text else "." + segment
        return text


def _quoted(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= MAX_QUOTED_CHARS else shown[: MAX_QUOTED_CHARS - 3] + "..."


def _got(value: Any) -> str:
    if value is None:
        return "got null"
    return f"got {type(value).__name__} {_quoted(value)}"


class Schema(ABC):
    """One node of a schema."""

    __slots__ = ()

    @abstractmethod
    def compile(self) -> Check:
        """A closure that returns on a valid value and raises _Violation otherwise."""

    @abstractmethod
    def describe(self) -> str:
        """The rule in a few words, for people reading the contract."""


@dataclass(frozen=True, slots=True)
class Text(Schema):
    max_chars: int
    min_chars: int = 0
    pattern: str | None = None  # matched against the whole text

    def compile(self) -> Check:
        low, high = self.min_chars, self.max_chars
        rule = f"must be text of {low} to {high} characters"
        if self.pattern is None:

            def check(value: Any) -> None:
                if type(value) is not str:
                    raise _Violation(f"{rule}; {_got(value)}")
                if not low <= len(value) <= high:
                    raise _Violation(f"{rule}; got {len(value)}")

            return check
        match = re.compile(self.pattern).fullmatch
        shaped = f"must be text matching {self.pattern}"

        def check_pattern(value: Any) -> None:
            if type(value) is not str:
                raise _Violation(f"{shaped}; {_got(value)}")
            if not low <= len(value) <= high or match(value) is None:
                raise _Violation(f"{shaped}; got {_quoted(value)}")

        return check_pattern

    def describe(self) -> str:
        if self.pattern is not None:
            return f"text matching {self.pattern}"
        return f"text {self.min_chars}..{self.max_chars} chars"


@dataclass(frozen=True, slots=True)
class Choice(Schema):
    """One of a closed set of words: a new word is a change both sides must know."""

    values: tuple[str, ...]

    def compile(self) -> Check:
        allowed = frozenset(self.values)
        rule = f"must be one of {', '.join(self.values)}"

        def check(value: Any) -> None:
            if type(value) is not str or value not in allowed:
                raise _Violation(f"{rule}; {_got(value)}")

        return check

    def describe(self) -> str:
        return "|".join(self.values)


@dataclass(frozen=True, slots=True)
class Integer(Schema):
    low: int
    high: int

    def compile(self) -> Check:
        low, high = self.low, self.high
        rule = f"must be an integer from {low} to {high}"

        def check(value: Any) -> None:
            if type(value) is not int:
                raise _Violation(f"{rule}; {_got(value)}")
            if not low <= value <= high:
                raise _Violation(f"{rule}; got {value}")

        return check

    def describe(self) -> str:
        return f"integer {self.low}..{self.high}"


@dataclass(frozen=True, slots=True)
class Bool(Schema):
    def compile(self) -> Check:
        def check(value: Any) -> None:
            if type(value) is not bool:
                raise _Violation(f"must be true or false; {_got(value)}")

        return check

    def describe(self) -> str:
        return "bool"


@dataclass(frozen=True, slots=True)
class Bytes(Schema):
    max_len: int
    min_len: int = 0  # equal to max_len for an exact length (a hash, a key)

    def compile(self) -> Check:
        low, high = self.min_len, self.max_len
        rule = f"must be {low} bytes" if low == high else f"must be {low} to {high} bytes"

        def check(value: Any) -> None:
            if type(value) is not bytes:
                raise _Violation(f"{rule}; {_got(value)}")
            if not low <= len(value) <= high:
                raise _Violation(f"{rule}; got {len(value)}")

        return check

    def describe(self) -> str:
        return f"bytes {self.min_len}..{self.max_len}"


@dataclass(frozen=True, slots=True)
class Nullable(Schema):
    """The value, or null (None)."""

    inner: Schema

    def compile(self) -> Check:
        inner = self.inner.compile()

        def check(value: Any) -> None:
            if value is not None:
                inner(value)

        return check

    def describe(self) -> str:
        return f"{self.inner.describe()} or null"


@dataclass(frozen=True, slots=True)
class ListOf(Schema):
    item: Schema
    max_items: int
    min_items: int = 0

    def compile(self) -> Check:
        item, low, high = self.item.compile(), self.min_items, self.max_items
        rule = f"must be a list of {low} to {high} items"

        def check(value: Any) -> None:
            if type(value) is not list and type(value) is not tuple:
                raise _Violation(f"{rule}; {_got(value)}")
            if not low <= len(value) <= high:
                raise _Violation(f"{rule}; got {len(value)}")
            for number, element in enumerate(value):
                try:
                    item(element)
                except _Violation as violation:
                    violation.segments.append(f"[{number}]")
                    raise

        return check

    def describe(self) -> str:
        return f"list of {self.min_items}..{self.max_items} x ({self.item.describe()})"


@dataclass(frozen=True, slots=True)
class Tuple(Schema):
    """A fixed-length array whose positions mean different things (a stamped field).
    `optional` positions may follow: a record that grew a field keeps its old, shorter
    form for the records written before it (so their bytes, and digests, stay the same)."""

    items: tuple[Schema, ...]
    optional: tuple[Schema, ...] = ()

    def compile(self) -> Check:
        checks = tuple(item.compile() for item in (*self.items, *self.optional))
        low, high = len(self.items), len(checks)
        rule = (
            f"must be a list of exactly {low} items"
            if low == high
            else f"must be a list of {low} to {high} items"
        )

        def check(value: Any) -> None:
            if (type(value) is not list and type(value) is not tuple) or not low <= len(value) <= high:
                raise _Violation(f"{rule}; {_got(value)}")
            for number, element in enumerate(value):
                try:
                    checks[number](element)
                except _Violation as violation:
                    violation.segments.append(f"[{number}]")
                    raise

        return check

    def describe(self) -> str:
        described = [item.describe() for item in self.items]
        described += [f"optional {item.describe()}" for item in self.optional]
        return f"[{', '.join(described)}]"


_ABSENT = object()  # a key not in the map (None is a value: null)

Bounds = tuple[str, int, int]  # key, low, high


class _ByHow(NamedTuple):
    """A map's fields by how they are checked: integers, plain texts and words inline,
    the rest by their closures."""

    ints: tuple[Bounds, ...]
    texts: tuple[Bounds, ...]
    words: tuple[tuple[str, frozenset[str]], ...]
    others: tuple[tuple[str, Check], ...]


def _by_how(fields: Mapping[str, Schema], full: Mapping[str, Check]) -> _ByHow:
    ints: list[Bounds] = []
    texts: list[Bounds] = []
    words: list[tuple[str, frozenset[str]]] = []
    others: list[tuple[str, Check]] = []
    for key, schema in fields.items():
        if isinstance(schema, Integer):
            ints.append((key, schema.low, schema.high))
        elif isinstance(schema, Text) and schema.pattern is None:
            texts.append((key, schema.min_chars, schema.max_chars))
        elif isinstance(schema, Choice):
            words.append((key, frozenset(schema.values)))
        else:
            others.append((key, full[key]))
    return _ByHow(tuple(ints), tuple(texts), tuple(words), tuple(others))


@dataclass(frozen=True, slots=True)
class Map(Schema):
    required: Mapping[str, Schema]
    optional: Mapping[str, Schema] = field(default_factory=dict)
    closed: bool = False  # refuse keys not named here (rule 4)
    at_least_one: bool = False  # at least one key present (an edit that changes something)

    def compile(self) -> Check:
        # Integer, text and word fields, the bulk of every payload, are checked inline
        # (no call per field); a field that fails is checked again by its own closure,
        # which finds the precise rule for the message.
        full = {key: schema.compile() for key, schema in (*self.required.items(), *self.optional.items())}
        req_ints, req_texts, req_words, req_others = _by_how(self.required, full)
        opt_ints, opt_texts, opt_words, opt_others = _by_how(self.optional, full)
        known = frozenset(full)
        names = ", ".join(sorted(known))
        closed, at_least_one, count = self.closed, self.at_least_one, len(self.required)

        def refuse(value: dict[Any, Any], key: str) -> NoReturn:
            if key not in value:
                raise _Violation("is required", key)
            try:
                full[key](value[key])
            except _Violation as violation:
                violation.segments.append(key)
                raise
            raise InvariantBroken(f"the inline check of {key!r} refused what its own check accepts")

        def check(value: Any) -> None:
            if type(value) is not dict:
                raise _Violation(f"must be a map; {_got(value)}")
            get = value.get
            for key, low, high in req_ints:
                number = get(key)
                if type(number) is not int or not low <= number <= high:
                    refuse(value, key)
            for key, low, high in req_texts:
                text = get(key)
                if type(text) is not str or not low <= len(text) <= high:
                    refuse(value, key)
            for key, words in req_words:
                word = get(key)
                if type(word) is not str or word not in words:
                    refuse(value, key)
            for key, check_field in req_others:
                found = get(key, _ABSENT)
                if found is _ABSENT:
                    raise _Violation("is required", key)
                try:
                    check_field(found)
                except _Violation as violation:
                    violation.segments.append(key)
                    raise
            present = count
            for key, low, high in opt_ints:
                number = get(key, _ABSENT)
                if number is not _ABSENT:
                    present += 1
                    if type(number) is not int or not low <= number <= high:
                        refuse(value, key)
            for key, low, high in opt_texts:
                text = get(key, _ABSENT)
                if text is not _ABSENT:
                    present += 1
                    if type(text) is not str or not low <= len(text) <= high:
                        refuse(value, key)
            for key, words in opt_words:
                word = get(key, _ABSENT)
                if word is not _ABSENT:
                    present += 1
                    if type(word) is not str or word not in words:
                        refuse(value, key)
            for key, check_field in opt_others:
                found = get(key, _ABSENT)
                if found is not _ABSENT:
                    present += 1
                    try:
                        check_field(found)
                    except _Violation as violation:
                        violation.segments.append(key)
                        raise
            if at_least_one and not present:
                raise _Violation(f"must name at least one of {names}")
            if closed and present != len(value):
                unknown = sorted(str(name) for name in value if name not in known)
                raise _Violation(f"is not a field here; the fields are {names}", unknown[0])

        return check

    def describe(self) -> str:
        return "map" + (" (closed)" if self.closed else "")


@dataclass(frozen=True, slots=True)
class OneOf(Schema):
    """A map whose `tag` field picks its variant; the tag is added to each variant."""

    tag: str
    variants: Mapping[str, Map]

    def with_tag(self, name: str) -> Map:
        """Variant `name` as it is checked: its own map with the tag required."""
        variant = self.variants[name]
        return Map(
            {self.tag: Choice((name,)), **variant.required},
            variant.optional,
            closed=variant.closed,
            at_least_one=variant.at_least_one,
        )

    def compile(self) -> Check:
        tag = self.tag
        checks = {name: self.with_tag(name).compile() for name in self.variants}
        rule = f"must be one of {', '.join(self.variants)}"

        def check(value: Any) -> None:
            if type(value) is not dict:
                raise _Violation(f"must be a map; {_got(value)}")
            if tag not in value:
                raise _Violation("is required", tag)
            chosen = value[tag]
            variant = checks.get(chosen) if type(chosen) is str else None
            if variant is None:
                raise _Violation(f"{rule}; {_got(chosen)}", tag)
            variant(value)

        return check

    def describe(self) -> str:
        return f"one of {', '.join(self.variants)} by {self.tag}"


# A rule across fields: None when the value keeps it, else (the field it refuses, the rule).
CrossRule = Callable[[Any], "tuple[str, str] | None"]


@dataclass(frozen=True, slots=True)
class Where(Schema):
    """A schema and a rule across its fields, checked after it (rule 6)."""

    inner: Schema
    rule: CrossRule
    says: str  # the rule in a few words

    def compile(self) -> Check:
        inner, rule = self.inner.compile(), self.rule

        def check(value: Any) -> None:
            inner(value)
            broken = rule(value)
            if broken is not None:
                key, text = broken
                raise _Violation(text, key)

        return check

    def describe(self) -> str:
        return f"{self.inner.describe()} where {self.says}"


@dataclass(frozen=True, slots=True)
class Validator:
    """A compiled schema under a name (an entry's kind/op), refusing with PayloadInvalid."""

    label: str
    schema: Schema
    check: Check

    def __call__(self, value: Any) -> None:
        try:
            self.check(value)
        except _Violation as violation:
            raise PayloadInvalid(self.label, violation.path(), violation.rule) from None


def validator(label: str, schema: Schema) -> Validator:
    return Validator(label, schema, schema.compile())
