"""What every source of "recommended for you" hands the blend: scored products with their why.

Each source (item-item, matrix factorisation, user-user, content profile, popular...) returns its
own ranked `Candidate`s; the hybrid merges them, filters what a shopper should not see and writes
each item's reason from `source` and `because`. Pure, no Django: the shop and the offline
evaluation share it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Candidate:
    product_id: int
    score: float  # the source's own score: only its order within the source is comparable
    source: str  # the method name, as in the evaluation report ("item_item", "als", "user_user"...)
    because: int | None = None  # the shopper's product that brought it in, when the source knows one
