"""JSON bodies are read with a bound on their nesting, refused as NestedTooDeep beyond it."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from protocol import json_text
from protocol.errors import NestedTooDeep
from protocol.json_text import MAX_JSON_DEPTH


def nested_arrays(depth: int) -> str:
    return "[" * depth + "]" * depth


def nested_objects(depth: int) -> str:
    return '{"a":' * (depth - 1) + "{}" + "}" * (depth - 1)


@pytest.mark.parametrize("nested", [nested_arrays, nested_objects], ids=["arrays", "objects"])
def test_a_body_at_the_bound_is_read_and_one_level_more_is_refused(nested: Callable[[int], str]) -> None:
    assert json_text.loads(nested(MAX_JSON_DEPTH)) == json.loads(nested(MAX_JSON_DEPTH))
    with pytest.raises(NestedTooDeep, match=f"more than {MAX_JSON_DEPTH} levels"):
        json_text.loads(nested(MAX_JSON_DEPTH + 1))


@pytest.mark.parametrize("nested", [nested_arrays, nested_objects], ids=["arrays", "objects"])
def test_a_body_sent_as_bytes_is_bounded_alike(nested: Callable[[int], str]) -> None:
    assert json_text.loads(nested(MAX_JSON_DEPTH).encode()) == json.loads(nested(MAX_JSON_DEPTH))
    with pytest.raises(NestedTooDeep):
        json_text.loads(nested(MAX_JSON_DEPTH + 1).encode())


def test_brackets_inside_strings_cost_a_walk_and_nothing_else() -> None:
    body = {"note": "[" * (MAX_JSON_DEPTH * 2), "lines": [{"sku": "{{{"}]}
    assert json_text.loads(json.dumps(body)) == body


def test_nesting_deep_enough_to_exhaust_the_parser_is_refused_not_a_recursion_error() -> None:
    with pytest.raises(NestedTooDeep):
        json_text.loads(nested_arrays(100_000))


def test_the_deep_branch_is_found_beside_shallow_ones() -> None:
    body = {"lines": [[1], {"x": 2}], "deep": json.loads(nested_arrays(MAX_JSON_DEPTH))}
    with pytest.raises(NestedTooDeep):
        json_text.loads(json.dumps(body))


def test_text_that_is_not_json_is_a_value_error_as_json_loads_gives() -> None:
    with pytest.raises(json.JSONDecodeError):
        json_text.loads("{not json")
    with pytest.raises(json.JSONDecodeError):
        json_text.loads(b"\xff\xfe")
