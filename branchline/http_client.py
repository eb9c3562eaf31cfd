"""What every operator command shares: one JSON call to a running HQ or node, and
lines of goods typed as SKU:QTY[@UNIT_FEN].

Commands talk HTTP to the running server (never to its files), so what they do
goes through the same checks, log and feeds as a till's request, as the operator
who logs in with `--login`: the password comes from the environment variable
BRANCHLINE_PASSWORD, else one line of standard input (asked for without echo at a
terminal), never from the command line, where `ps` would show it.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import urllib.error
import urllib.request
from typing import Any


class CommandFailed(Exception):
    """The server refused the command or could not be reached; the message says which."""


def call(
    base: str,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    *,
    token: str | None = None,
    what: str = "the server",
    key: str | None = None,
) -> dict[str, Any]:
    """One request; the parsed JSON answer, or CommandFailed with the server's message."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base.rstrip("/") + path, data=data, method=method)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    if key is not None:
        request.add_header("Idempotency-Key", key)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            answer: dict[str, Any] = json.loads(response.read())
            return answer
    except urllib.error.HTTPError as exc:
        try:
            refusal = json.loads(exc.read())
            code, message = refusal.get("error", "refused"), refusal.get("message", exc.reason)
        except (ValueError, AttributeError):
            code, message = "refused", exc.reason
        raise CommandFailed(f"{what} refused ({exc.code} {code}): {message}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        # A write with an Idempotency-Key may have been booked: sending it again with the
        # same key books it once.
        retry = f"; repeat with --key {key} to book it once" if key and method != "GET" else ""
        raise CommandFailed(f"{what} at {base} did not answer: {exc}; is it running?{retry}") from None


def item_lines(specs: list[str], *, qty_name: str = "qty", with_cost: bool = False) -> list[dict[str, Any]]:
    """["CUP:5", "TEA:2@1800"] -> [{"sku": "CUP", qty_name: 5},
    {"sku": "TEA", qty_name: 2, "unit_cost_fen": 1800}]."""
    lines = []
    for spec in specs:
        sku, sep, rest = spec.partition(":")
        qty_text, at, unit_text = rest.partition("@")
        if not sep or not sku or not _digits(qty_text) or (at and not (with_cost and _digits(unit_text))):
            form = "SKU:QTY@UNIT_FEN or SKU:QTY" if with_cost else "SKU:QTY"
            raise CommandFailed(f"{spec!r} is not a line of goods; write {form} (whole numbers)")
        line: dict[str, Any] = {"sku": sku, qty_name: int(qty_text)}
        if at:
            line["unit_cost_fen"] = int(unit_text)
        lines.append(line)
    return lines


def _digits(text: str) -> bool:
    # ASCII only: "²".isdigit() is true and int("²") fails.
    return text.isascii() and text.isdigit()


PASSWORD_VARIABLE = "BRANCHLINE_PASSWORD"


def add_login_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--login",
        required=True,
        help=f"the operator acting; the password is read from ${PASSWORD_VARIABLE} or standard input",
    )


def read_password(prompt: str) -> str:
    """$BRANCHLINE_PASSWORD, one line of stdin, or a prompt without echo at a terminal."""
    if (password := os.environ.get(PASSWORD_VARIABLE)) is not None:
        return password
    if sys.stdin.isatty():
        return getpass.getpass(prompt)
    line = sys.stdin.readline()
    if not line:
        raise CommandFailed(f"give the password in ${PASSWORD_VARIABLE} or on standard input (one line)")
    return line.rstrip("\r\n")


def log_in(base: str, login: str, what: str = "the server") -> str:
    """A session token for `login` at the server (POST /api/login)."""
    answer = call(
        base,
        "POST",
        "/api/login",
        {"login": login, "password": read_password(f"password for {login}: ")},
        what=what,
    )
    return str(answer["token"])
