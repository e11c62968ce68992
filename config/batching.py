"""Collect ids inside a block and send them in batches after it (bulk imports)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar


class _Collected(list):
    """The ids of one block, and whether that block sends them itself."""

    sends: bool = False


@contextmanager
def ids_deferred(slot: ContextVar[list[int] | None], send: Callable[[list[int]], object] | None) -> Iterator[list[int]]:
    """Code inside the block appends ids to the list found in `slot`; `send(ids)` runs at the
    end of the block (unless it raised).

    A block that sends nothing (`send=None`) keeps every id scheduled inside it, nested blocks
    included, for its caller (e.g. `import_catalog --no-queue`). Inside a sending block, a nested
    block that sends sends its own ids when it ends: an import's per-chunk blocks reach the
    worker while the import still runs, not all at the end of the command.
    """
    outer = slot.get()
    if outer is not None and not getattr(outer, "sends", False):
        yield outer
        return
    collected = _Collected()
    collected.sends = send is not None
    token = slot.set(collected)
    try:
        yield collected
    finally:
        slot.reset(token)
    if send is not None:
        send(collected)
