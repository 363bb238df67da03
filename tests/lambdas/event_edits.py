"""Edits of valid events, to build the malformed ones the handlers must reject without a retry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def edit(path: str, value: Any = ..., *, delete: bool = False) -> Callable[[dict[str, Any]], Any]:
    """An edit of a valid event at a dotted path: set `value`, or delete the key."""

    def apply(event: dict[str, Any]) -> Any:
        *parents, leaf = path.split(".")
        target = event
        for key in parents:
            target = target[key]
        if delete:
            del target[leaf]
        else:
            target[leaf] = value
        return event

    return apply
