"""The clerk's limit on a till discount (node.config.clerk_discount_limit_percent) is read
from node.json like the node's other settings, 10 when node.json does not name it, and a
value that is no percent stops the node at start naming the setting. The limit is
applied by node.services.checkout to what a line pays after offers."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from node.config import CONFIG_FILE, NodeConfig, NodeConfigInvalid, load_config, save_config
from shared_tables.private_files import private_folder

CONFIG = NodeConfig("BR01", "http://127.0.0.1:1", "00" * 32, "HQ>BR01")


def test_node_json_without_the_setting_lets_a_clerk_give_ten_percent(tmp_path: Path) -> None:
    data = private_folder(tmp_path / "BR01")
    save_config(data, CONFIG)
    written = json.loads((data / CONFIG_FILE).read_text())
    assert written["clerk_discount_limit_percent"] == 10
    del written["clerk_discount_limit_percent"]  # a node.json from before the setting
    (data / CONFIG_FILE).write_text(json.dumps(written))
    assert load_config(data).clerk_discount_limit_percent == 10


def test_node_json_names_the_clerks_limit(tmp_path: Path) -> None:
    data = private_folder(tmp_path / "BR01")
    save_config(data, dataclasses.replace(CONFIG, clerk_discount_limit_percent=25))
    assert load_config(data).clerk_discount_limit_percent == 25


@pytest.mark.parametrize("value", [-1, 101, 10.5, "10", True, None])
def test_a_limit_that_is_no_percent_stops_the_node_naming_the_setting(value: Any) -> None:
    with pytest.raises(NodeConfigInvalid, match=r"clerk_discount_limit_percent .* no percent"):
        dataclasses.replace(CONFIG, clerk_discount_limit_percent=value)
