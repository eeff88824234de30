"""Planted faults: for each invariant, a fault-injecting double of one adapter that breaks it, so a test
can show the simulator reports the violation (a checker that cannot fail is caught). `planted("", ...)`
plants nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

PLANTS: dict[str, Callable[[ExitStack, Any], None]] = {}


@contextmanager
def planted(name: str, world: Any) -> Iterator[None]:
    """Inside the block, the world runs with the named fault (none for "")."""
    with ExitStack() as stack:
        if name:
            PLANTS[name](stack, world)
        yield
