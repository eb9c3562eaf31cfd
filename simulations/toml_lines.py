"""Where each table header and key of a TOML text sits, for error messages.

tomllib reports no positions, so errors found after parsing are located by
scanning the text again.
"""

from __future__ import annotations

import re

# Keys and [[array]] indexes from the top of the document.
KeyPath = tuple[str | int, ...]

_KEY_PART = r"""(?:[A-Za-z0-9_-]+|"(?:[^"\\\n]|\\.)*"|'[^'\n]*')"""
_DOTTED_KEY = rf"{_KEY_PART}(?:[ \t]*\.[ \t]*{_KEY_PART})*"
_HEADER_LINE = re.compile(rf"[ \t]*(\[\[?)[ \t]*({_DOTTED_KEY})[ \t]*\]")
_KEY_LINE = re.compile(rf"[ \t]*({_DOTTED_KEY})[ \t]*=")


def _key_parts(dotted: str) -> list[str]:
    return [part[1:-1] if part[0] in "\"'" else part for part in re.findall(_KEY_PART, dotted)]


class KeyLines:
    """The line of every table header and `key =` of a TOML text that tomllib accepted.

    tomllib reports no positions, so errors found after parsing locate their key by
    scanning the text again: headers and keys that start a line are indexed by their
    path from the top, and values (strings, comments, arrays over lines) are skipped.
    """

    def __init__(self, text: str) -> None:
        self._line_at: dict[KeyPath, int] = {}
        self._arrays: dict[KeyPath, int] = {}  # [[array]] path: tables seen so far
        section: KeyPath = ()
        pos, line = 0, 1
        while pos < len(text):
            if header := _HEADER_LINE.match(text, pos):
                section = self._enter(header[1] == "[[", _key_parts(header[2]))
                self._line_at.setdefault(section, line)
                self._line_at.setdefault(section[:-1], line)
                pos = header.end()
            elif key := _KEY_LINE.match(text, pos):
                path = section
                for part in _key_parts(key[1]):
                    path = (*path, part)
                    self._line_at.setdefault(path, line)
                pos, line = _skip_value(text, key.end(), line)
            end = text.find("\n", pos)
            if end == -1:
                break
            pos, line = end + 1, line + 1

    def _enter(self, is_array: bool, parts: list[str]) -> KeyPath:
        path: KeyPath = ()
        for part in parts[:-1]:
            path = (*path, part)
            if path in self._arrays:
                path = (*path, self._arrays[path] - 1)
        path = (*path, parts[-1])
        if not is_array:
            return path
        self._arrays[path] = self._arrays.get(path, 0) + 1
        return (*path, self._arrays[path] - 1)

    def line_of(self, path: KeyPath) -> int:
        """The line of `path`, else of the nearest key or table holding it, else 1."""
        while path:
            if path in self._line_at:
                return self._line_at[path]
            path = path[:-1]
        return 1


def _skip_value(text: str, pos: int, line: int) -> tuple[int, int]:
    """Past the value starting at `pos`: to the newline that ends it, counting lines."""
    depth = 0  # open [ and {
    while pos < len(text):
        char = text[pos]
        if char == "\n" and depth == 0:
            break
        if char == "#":
            end = text.find("\n", pos)
            pos = len(text) if end == -1 else end
        elif text.startswith(('"""', "'''"), pos):
            end = _string_end(text, pos + 3, text[pos : pos + 3])
            line += text.count("\n", pos, end)
            pos = end
        elif char in "\"'":
            pos = _string_end(text, pos + 1, char)
        else:
            depth += (char in "[{") - (char in "]}")
            line += char == "\n"
            pos += 1
    return pos, line


def _string_end(text: str, pos: int, quote: str) -> int:
    """Just past the string that `quote` closes, its body starting at `pos`."""
    while pos < len(text) and not text.startswith(quote, pos):
        pos += 2 if quote[0] == '"' and text[pos] == "\\" else 1
    end = pos + len(quote)
    # A multi-line string may end in one or two quotes of its own before the closing three.
    while len(quote) == 3 and end < len(text) and text[end] == quote[0] and end - pos < 5:
        end += 1
    return end
