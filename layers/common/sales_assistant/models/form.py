"""Decoding of PHP-style nested form keys, the way Kommo posts its webhooks.

`message[add][0][author][id]=x` becomes {"message": {"add": [{"author": {"id": "x"}}]}}. Hostile
bodies are bounded: depth, number of fields and the length of list indexes are limited. Like PHP, which Kommo's
senders are written in, a key given twice keeps its last value, also when one is a value and the
other a group; an empty `[]` appends (`x[]=1&x[]=2` is ["1", "2"]); only ASCII digits make list indexes.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

MAX_FIELDS = 5000
MAX_DEPTH = 8

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PART = re.compile(r"\[([^\[\]]*)\]")
_INDEX = re.compile(r"[0-9]{1,9}")


class FormError(ValueError):
    """The body is not a well-formed Kommo form; the message says why."""


class _Group(dict[str, Any]):
    """The fields under one name; `next_index` is where an empty `[]` appends: after the largest list index
    so far, as in PHP."""

    next_index = 0


def parse_nested_form(body: str) -> dict[str, Any]:
    """Decode an application/x-www-form-urlencoded body with nested keys into dicts and lists."""
    if not body.strip():
        raise FormError("malformed form body: it is empty")
    try:
        pairs = parse_qsl(body, keep_blank_values=True, strict_parsing=True, max_num_fields=MAX_FIELDS)
    except ValueError as error:
        raise FormError(f"malformed form body: {error}") from None
    root = _Group()
    for key, value in pairs:
        _insert(root, _split_key(key), value)
    return _lists_from_indexes(root)


def _split_key(key: str) -> list[str]:
    match = _KEY.match(key)
    if not match:
        raise FormError(f"malformed field name: {key[:80]!r}")
    parts = [match.group(1), *_PART.findall(match.group(2))]
    if len(parts) > MAX_DEPTH:
        raise FormError(f"field name nested too deep: {key[:80]!r}")
    return parts


def _insert(node: _Group, parts: list[str], value: str) -> None:
    for part in parts[:-1]:
        key = _key_in(node, part)
        child = node.get(key)
        if not isinstance(child, _Group):  # absent, or a value that this later group replaces (PHP)
            child = node[key] = _Group()
        node = child
    node[_key_in(node, parts[-1])] = value


def _key_in(group: _Group, part: str) -> str:
    """`part` as a key of `group`: an empty one is the next list index."""
    key = part or str(group.next_index)
    if _INDEX.fullmatch(key):
        group.next_index = max(group.next_index, int(key) + 1)
    return key


def _lists_from_indexes(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {key: _lists_from_indexes(value) for key, value in node.items()}
    if converted and all(_INDEX.fullmatch(key) for key in converted):
        return [converted[index] for index in sorted(converted, key=int)]  # sparse indexes stay compact
    return converted
