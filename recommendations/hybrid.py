"""The served blend of "recommended for you": every source's candidates merged, filtered, explained.

Pure, no Django: the shop (`selectors.shopper_recommended_list`) and the offline evaluation's
`hybrid` and `served` methods call the same functions, so what is measured is what is served.

- `blend`: weighted reciprocal-rank fusion (or weighted max-normalised scores) of each source's
  ranked `Candidate`s; a source's weight comes from the tuned weights by its name, so a new source
  is picked up once it is tuned (an untuned one weighs DEFAULT_SOURCE_WEIGHT).
- Filters a shopper expects: what they bought is left out unless it is a repeat-purchase kind
  (`repeat_products`, measured from the purchase history), and no article type fills more than
  TYPE_CAP of the list.
- `weights_tune`: a coordinate ascent over a small grid of weights on a validation split's lists.
- `reason`: each item's explanation from its best-contributing source and `because`.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Callable, Collection, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from recommendations.candidates import Candidate

RRF_OFFSET = 10  # reciprocal rank 1/(offset + rank): the head of a list is not worth 10x its tenth item
EVIDENCE_ITEMS = 10  # a neighbour source's evidence: the share of this many latest products with neighbours
TYPE_CAP = 0.4  # no article type fills more than this share of a list
DEFAULT_SOURCE_WEIGHT = 0.0  # a source nobody tuned yet is not served (it is measured as its own method)
POOL_EXTRA = 24  # each source is asked for k + this, so filters still leave k
WEIGHT_GRID = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)
WEIGHTS_FILE = Path(__file__).with_name("blend_weights.json")

# Reasons, by source; "{name}" is the product that brought the candidate in, "{category}" its kind.
REASONS: dict[str, str] = {
    "item_item_bm25": "Because you viewed {name}",
    "item_item_cosine": "Because you viewed {name}",
    "item_item_tfidf": "Because you viewed {name}",
    "als": "Because you viewed {name}",
    "bpr": "Because you viewed {name}",
    "ease": "Because you viewed {name}",
    "bought_together": "Bought together with {name}",
    "popular_category": "Popular in {category} this week",
    "popularity_recent": "Popular this week",
    "popularity": "Popular in the shop",
    "visual": "Looks like {name}",
    "similar_items": "Looks like {name}",
    "content_profile": "Looks like {name}",
    "user_user": "Shoppers with similar taste bought this",
}
REASON_FALLBACK = "Recommended for you"
# Lists that are the same for every shopper: an item's reason comes from them only when no personal
# source offered it.
GENERAL_SOURCES = frozenset({"popularity", "popularity_recent"})


class Evidence(list):
    """A source's candidates (a plain list of Candidate) with how much the source had to go on for this
    shopper, 0 to 1: `blend` weighs the source by it."""

    def __init__(self, candidates: Iterable[Candidate] = (), *, evidence: float = 1.0) -> None:
        super().__init__(candidates)
        self.evidence = evidence


@dataclass(frozen=True)
class Blended:
    product_id: int
    score: float
    source: str  # the `source` of the candidate that contributed most to the score
    because: int | None  # that source's candidate's `because`


_weights_read: dict[Path, tuple[int, dict[str, float]]] = {}  # file -> (its mtime, its weights)


def weights_load(path: Path | str | None = None) -> dict[str, float]:
    """The served weights by source name (recommendations/blend_weights.json, `weights`).

    The home page asks on every request: the file is parsed once per process and again only when
    its modification time changes (a stat per call)."""
    file = Path(path or WEIGHTS_FILE)
    stamp = file.stat().st_mtime_ns
    found = _weights_read.get(file)
    if found is None or found[0] != stamp:
        data = json.loads(file.read_text(encoding="utf-8"))
        found = (stamp, {str(name): float(weight) for name, weight in data["weights"].items()})
        _weights_read[file] = found
    return dict(found[1])


def blend(
    lists: Mapping[str, Sequence[Candidate]],
    weights: Mapping[str, float],
    *,
    k: int,
    method: str = "rrf",
    exclude: Collection[int] = (),
    type_of: Mapping[int, Hashable] | None = None,
    type_cap: float = TYPE_CAP,
) -> list[Blended]:
    """The top `k` of the sources' lists fused: best first, ties by product id.

    `method` "rrf": a candidate at rank r (0-based, in its source's order) earns weight / (RRF_OFFSET
    + r) from that source; "score": weight x score / the source's best score. Contributions add up.
    `exclude` never appears (see `exclusions`). With `type_of` (product -> its
    article type), no type holds more than max(1, floor(type_cap x k)) places while other products
    remain; products without a type are not capped. A source's list may say how much it had to go on
    (`Evidence`, 0 to 1; 1 when it does not say): its weight is multiplied by that, so a shopper whose
    history has little behind a source leans on the others.
    """
    if method not in ("rrf", "score"):
        raise ValueError(f"unknown blend method {method!r}; expected rrf or score")
    banned = set(exclude)
    scores: dict[int, float] = defaultdict(float)
    best: dict[int, tuple[tuple[bool, float], str, int | None]] = {}
    for source, candidates in lists.items():
        weight = weights.get(source, DEFAULT_SOURCE_WEIGHT)
        if weight <= 0 or not candidates:
            continue
        weight *= getattr(candidates, "evidence", 1.0)
        if weight <= 0:
            continue
        top = max((c.score for c in candidates), default=0.0)
        rank = 0
        seen: set[int] = set()
        for candidate in candidates:
            product = candidate.product_id
            if product in seen:
                continue
            seen.add(product)
            if method == "rrf":
                gain = weight / (RRF_OFFSET + rank)
            else:
                gain = weight * (candidate.score / top if top > 0 else 0.0)
            rank += 1
            if product in banned or gain <= 0:
                continue
            scores[product] += gain
            # The reason: the source that contributed most, but a personal source (one that read the
            # shopper's history) before a list that is the same for everyone, whatever their gains:
            # "Because you viewed a shirt" tells a shopper more than "Popular this week".
            key = (source not in GENERAL_SOURCES, gain)
            if product not in best or key > best[product][0]:
                best[product] = (key, candidate.source, candidate.because)
    ranked = sorted(scores.items(), key=lambda pair: (-pair[1], pair[0]))
    chosen = _capped(ranked, k, type_of, type_cap)
    return [Blended(product, score, best[product][1], best[product][2]) for product, score in chosen]


def _capped(
    ranked: list[tuple[int, float]], k: int, type_of: Mapping[int, Hashable] | None, type_cap: float
) -> list[tuple[int, float]]:
    if not type_of:
        return ranked[:k]
    cap = max(1, math.floor(type_cap * k))
    taken: dict[Hashable, int] = defaultdict(int)
    out, held = [], []
    for product, score in ranked:
        kind = type_of.get(product)
        if kind is not None and taken[kind] >= cap:
            held.append((product, score))
            continue
        if kind is not None:
            taken[kind] += 1
        out.append((product, score))
        if len(out) == k:
            return out
    # Fewer than k of other types: the held-back ones fill the list rather than leave it short.
    return sorted(out + held[: k - len(out)], key=lambda pair: (-pair[1], pair[0]))


def exclusions(history: Iterable[int], repeatable: Collection[int], extra: Iterable[int] = ()) -> set[int]:
    """What a shopper's list leaves out: what they already bought or looked at, unless it is a
    repeat-purchase kind (`repeat_products`), and `extra` (the cart, what cannot be bought)."""
    return set(extra) | {product for product in history if product not in repeatable}


def reason(item: Blended, *, names: Mapping[int, str], categories: Mapping[int, str] | None = None) -> str:
    """The item's "why", from its best-contributing source; a source without a template, or a
    template whose product is unknown, falls back to REASON_FALLBACK."""
    template = REASONS.get(item.source)
    if template is None:
        return REASON_FALLBACK
    values = {}
    if "{name}" in template:
        if item.because is None or item.because not in names:
            return REASON_FALLBACK
        values["name"] = names[item.because]
    if "{category}" in template:
        label = (categories or {}).get(item.product_id)
        if not label:
            return REASONS["popularity_recent"]
        values["category"] = label
    return template.format(**values)


# --- Repeat-purchase kinds -------------------------------------------------------------------------

REPEAT_MIN_BUYERS = 3  # fewer buyers say nothing about a product's repeat rate
REPEAT_MIN_RATE = 0.2  # a product a fifth of its buyers bought again on another occasion


def repeat_products(
    purchases: Iterable[tuple[str, int, str]], *, min_buyers: int = REPEAT_MIN_BUYERS, min_rate: float = REPEAT_MIN_RATE
) -> set[int]:
    """Products shoppers buy again: of their buyers (at least `min_buyers`), at least `min_rate` bought
    them on two or more occasions. `purchases` are (shopper, product, occasion) rows, the occasion
    being the basket (or the day when there is none)."""
    occasions: dict[tuple[int, str], set[str]] = defaultdict(set)
    for shopper, product, occasion in purchases:
        if shopper:
            occasions[(product, shopper)].add(occasion)
    buyers: dict[int, int] = defaultdict(int)
    again: dict[int, int] = defaultdict(int)
    for (product, _), seen in occasions.items():
        buyers[product] += 1
        if len(seen) > 1:
            again[product] += 1
    return {p for p, n in buyers.items() if repeat_rule(n, again[p], min_buyers=min_buyers, min_rate=min_rate)}


def repeat_rule(
    buyers: int, again: int, *, min_buyers: int = REPEAT_MIN_BUYERS, min_rate: float = REPEAT_MIN_RATE
) -> bool:
    """A repeat-purchase kind: enough buyers, and enough of them bought it on more than one occasion."""
    return buyers >= min_buyers and again / buyers >= min_rate


# --- Tuning the weights on a validation split ------------------------------------------------------


def coordinate_ascent(
    sources: Sequence[str],
    objective: Callable[[Mapping[str, float]], float],
    *,
    grid: Sequence[float] = WEIGHT_GRID,
    rounds: int = 2,
) -> tuple[dict[str, float], float]:
    """Each source's weight in turn set to the grid value that maximises `objective`, the others held;
    `rounds` passes, from every weight 1. A tie moves to the smaller weight (a source that adds nothing
    ends at 0), so the result is deterministic. Returns the weights and their objective."""
    weights = dict.fromkeys(sorted(sources), 1.0)
    current = objective(weights)
    for _ in range(rounds):
        changed = False
        for source in sorted(sources):
            best_weight, best_score = weights[source], current
            for value in grid:
                if value == weights[source]:
                    continue
                trial = objective({**weights, source: value})
                if trial > best_score + 1e-12 or (abs(trial - best_score) <= 1e-12 and value < best_weight):
                    best_weight, best_score = value, trial
            if best_weight != weights[source]:
                weights[source], current, changed = best_weight, best_score, True
        if not changed:
            break
    return weights, current


def blended_score(
    lists: Mapping[str, Mapping[str, Sequence[Candidate]]],
    truth: Mapping[str, Collection[int]],
    weights: Mapping[str, float],
    *,
    k: int,
    score: Callable[[Sequence[int], Collection[int], int], float],
    method: str = "rrf",
    blend_options: Mapping[str, Mapping] | None = None,
) -> float:
    """The mean `score(list, relevant, k)` of the blend over the shoppers of `truth`."""
    options = blend_options or {}
    total = 0.0
    for shopper, relevant in truth.items():
        ranked = blend(lists.get(shopper, {}), weights, k=k, method=method, **options.get(shopper, {}))
        total += score([item.product_id for item in ranked], relevant, k)
    return total / len(truth) if truth else 0.0


def weights_tune(
    lists: Mapping[str, Mapping[str, Sequence[Candidate]]],
    truth: Mapping[str, Collection[int]],
    *,
    k: int,
    score: Callable[[Sequence[int], Collection[int], int], float],
    method: str = "rrf",
    grid: Sequence[float] = WEIGHT_GRID,
    rounds: int = 2,
    blend_options: Mapping[str, Mapping] | None = None,
) -> tuple[dict[str, float], float]:
    """coordinate_ascent of the mean `score` over the validation shoppers. `lists`: shopper -> source
    -> candidates on the validation split; `truth`: what each bought there; `blend_options`: per-shopper
    keyword arguments of `blend` (exclude, type_of). Returns the weights and their validation score."""
    sources = sorted({source for per_source in lists.values() for source in per_source})

    def objective(weights: Mapping[str, float]) -> float:
        return blended_score(lists, truth, weights, k=k, score=score, method=method, blend_options=blend_options)

    return coordinate_ascent(sources, objective, grid=grid, rounds=rounds)


# --- A source: popular in the shopper's categories -------------------------------------------------

CATEGORY_HISTORY = 10  # the shopper's latest products whose categories count


def popular_in_categories(
    history: Sequence[int],
    *,
    category_of: Mapping[int, Hashable],
    popular_by_category: Mapping[Hashable, Sequence[int]],
    k: int,
    exclude: Collection[int] = (),
) -> list[Candidate]:
    """Recent best-sellers of the categories of the shopper's CATEGORY_HISTORY latest products.

    A category's share of those products weighs its best-sellers: score share / (RRF_OFFSET + rank in
    the category). The history itself and `exclude` never appear. Best first, ties by id.
    """
    counts: dict[Hashable, int] = defaultdict(int)
    for product in history[:CATEGORY_HISTORY]:
        category = category_of.get(product)
        if category is None:
            continue
        counts[category] += 1
    if not counts:
        return []
    total = sum(counts.values())
    banned = set(exclude) | set(history)
    scores: dict[int, float] = {}
    for category, count in counts.items():
        rank = 0
        for product in popular_by_category.get(category, ()):
            if rank >= k:
                break
            if product in banned:
                continue
            score = count / total / (RRF_OFFSET + rank)
            rank += 1
            scores[product] = max(scores.get(product, 0.0), score)
    ranked = sorted(scores.items(), key=lambda pair: (-pair[1], pair[0]))[:k]
    # No `because`: the reason names the product's own kind, and the source needs no evidence.
    return [Candidate(product, score, "popular_category") for product, score in ranked]


def neighbour_candidates(
    neighbours: Mapping[int, Sequence[tuple[int, float]]],
    history: Sequence[int],
    *,
    k: int,
    source: str,
    exclude: Collection[int] = (),
    include_history: bool = False,
) -> list[Candidate]:
    """collaborative.recommend_from_history as Candidates, each `because` the history product it is
    most similar to (the most recent one on ties), with the list's Evidence."""
    from recommendations.collaborative import recommend_from_history

    ranked = recommend_from_history(neighbours, history, k=k, exclude=exclude, include_history=include_history)
    wanted = {product for product, _ in ranked}
    because: dict[int, tuple[float, int]] = {}
    for product in dict.fromkeys(history):  # most recent first: it keeps ties
        for neighbour, score in neighbours.get(product, ()):
            if neighbour in wanted and (neighbour not in because or score > because[neighbour][0]):
                because[neighbour] = (score, product)
    found = [Candidate(product, score, source, because.get(product, (0.0, None))[1]) for product, score in ranked]
    # Evidence: the squared share of the shopper's EVIDENCE_ITEMS latest products that have neighbours
    # at all (collaborative.served_list's rule), so sparse histories lean on the best-sellers.
    latest = list(dict.fromkeys(history))[:EVIDENCE_ITEMS]
    share = sum(1 for product in latest if neighbours.get(product)) / len(latest) if latest else 0.0
    return Evidence(found, evidence=share**2)
