"""Edits of valid events, to build the malformed ones the handlers must reject without a retry."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
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


DELETE = object()  # an edit's value that removes the field


def apply_edits(event: dict[str, Any], edits: Iterable[tuple[Sequence[str], Any]]) -> dict[str, Any]:
    """Apply (path, value) edits in order, `DELETE` removing the field; an edit whose parent an earlier
    edit replaced by a non-object is skipped (what property tests draw: any edits, in any order)."""
    for path, value in edits:
        container: Any = event
        for key in path[:-1]:
            container = container.get(key) if isinstance(container, dict) else None
        if not isinstance(container, dict):
            continue
        if value is DELETE:
            container.pop(path[-1], None)
        else:
            container[path[-1]] = value
    return event
