"""A handler's cold start without the garbage collector's full collections.

A handler's imports and module-level set-up (settings, Powertools' Logger, Metrics and Tracer) allocate
enough to set off full collections, each scanning everything imported so far, none of it garbage: about a
tenth of a cold start (docs/performance.md). A handler module calls `begin()` before its other imports and
`end()` once set up. Standard library only: it is imported first.
"""

from __future__ import annotations

import gc


def begin() -> None:
    """Pause collection (before the handler's other imports)."""
    gc.disable()


def end() -> None:
    """Collect again, leaving what the imports and set-up made (it lives as long as the process) out of
    every later collection."""
    gc.enable()
    gc.freeze()
