"""Collect ids inside a block and send them in batches after it (bulk imports)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar


@contextmanager
def ids_deferred(slot: ContextVar[list[int] | None], send: Callable[[list[int]], object] | None) -> Iterator[list[int]]:
    """Code inside the block appends ids to the list found in `slot`; `send(ids)` runs once at
    the end (unless the block raised). A nested block shares the outer list and sends nothing."""
    outer = slot.get()
    if outer is not None:
        yield outer
        return
    collected: list[int] = []
    token = slot.set(collected)
    try:
        yield collected
    finally:
        slot.reset(token)
    if send is not None:
        send(collected)
