"""Choose ALS/BPR parameters on a validation split carved from the training period only.

python -m evaluation.factorisation_tune --layout online-retail --split-date 2011-10-01 --validation-days 30
python -m evaluation.factorisation_tune --layout movielens --split stratified:0.75

`--test` instead scores the chosen defaults on the split's real test period (for the docs).

A date split validates on the `--validation-days` before the split date, training on what came
before them; a stratified split re-splits its own training share the same way (seed + 1). The test
period is never read. Prints one line per grid point (the metric of the layout's protocol) and the
best per kind.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from datetime import timedelta
from pathlib import Path

from evaluation.interactions import (
    _date,
    events_from_files,
    prepare,
    split_by_date,
    split_make,
    split_stratified,
)
from evaluation.metrics import ranking_metrics
from recommendations import factorisation
from recommendations.collaborative import interaction_matrix

GRIDS = {
    "als": {"factors": [32, 64, 128], "regularization": [0.01, 0.05, 0.5], "alpha": [1.0, 5.0, 20.0]},
    "bpr": {"factors": [64, 128], "learning_rate": [0.01, 0.05], "regularization": [0.001, 0.01]},
}


def validation_prepared(events, *, split_date: str | None, split: str | None, validation_days: int, seed: int):
    """The validation split: inside the training period of the evaluation's split, never its test."""
    if split_date:
        start = _date(split_date, "--split-date")
        train = [event for event in events if event.created_at < start]
        return prepare(split_by_date(train, split=start - timedelta(days=validation_days)))
    share = float(split.partition(":")[2])
    outer = split_stratified(events, train_share=share, seed=seed)
    return prepare(split_stratified(outer.train, train_share=share, seed=seed + 1))


def score(params: factorisation.FactorParams, data, prepared, k: int) -> dict[str, float]:
    """Precision, NDCG and MAP at k of `params` trained on `data`, over the prepared test shoppers."""
    ranker = factorisation.factor_ranker(data, params)
    lists = {
        shopper: [
            candidate.product_id
            for candidate in ranker(
                shopper, prepared.history.get(shopper, []), prepared.bought_before[shopper].keys(), k, False
            )
        ]
        for shopper in prepared.truth
    }
    metrics = ranking_metrics(lists, prepared.truth, prepared.catalogue, k=k)
    return {name: round(metrics[name], 4) for name in ("precision", "ndcg", "map")}


def fold_in_compare(params: factorisation.FactorParams, data, prepared, k: int) -> dict[str, dict]:
    """The same shoppers ranked from their trained factors and from factors folded in from their row
    of the matrix (what the shop does for a shopper with new events), and the lists' overlap."""
    factors = factorisation.factorisation_fit(data, params)
    row_of = {shopper: row for row, shopper in enumerate(factors.shoppers)}
    lists: dict[str, dict[str, list[int]]] = {"trained": {}, "folded_in": {}}
    for shopper in prepared.truth:
        seen = data.matrix.getrow(row_of[shopper])
        folded = factorisation.fold_in(
            factors.item_factors[seen.indices], seen.data, gramian=factors.gramian, params=params
        )
        for name, user in (("trained", factors.user_factors[row_of[shopper]]), ("folded_in", folded)):
            ranked = factorisation.rank_items(user, factors.item_factors, k=k, exclude=set(seen.indices))
            lists[name][shopper] = [factors.products[row] for row, _ in ranked]
    result = {}
    for name, per_shopper in lists.items():
        metrics = ranking_metrics(per_shopper, prepared.truth, prepared.catalogue, k=k)
        result[name] = {metric: round(metrics[metric], 4) for metric in ("precision", "ndcg")}
    overlap = [len(set(lists["trained"][s]) & set(lists["folded_in"][s])) / k for s in prepared.truth]
    result["overlap"] = round(sum(overlap) / len(overlap), 3)
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layout", required=True, choices=["online-retail", "movielens", "hm"])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/interactions")
    parser.add_argument("--split-date")
    parser.add_argument("--split")
    parser.add_argument("--validation-days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--k", type=int, default=12)
    parser.add_argument("--kinds", default="als,bpr")
    parser.add_argument("--iterations", type=int, nargs="*", default=None, help="override the grid's iterations")
    parser.add_argument(
        "--test",
        action="store_true",
        help="no tuning: score the shop's defaults (factorisation.DEFAULTS) on the split's real test period",
    )
    parser.add_argument(
        "--fold-in",
        action="store_true",
        help="no tuning: on the validation split, rank with folded-in factors instead of the trained ones",
    )
    parser.add_argument("--grid", type=json.loads, default=None, help='JSON {"als": {"alpha": [0.5, 1]}, ...}')
    args = parser.parse_args(argv)
    folder = {"online-retail": "online-retail", "movielens": "movielens-100k", "hm": "hm"}[args.layout]
    events = events_from_files(args.data / folder, args.layout)
    if args.test:
        prepared = prepare(split_make(events, split_date=args.split_date, split=args.split, seed=args.seed))
        split = prepared.split
        data = interaction_matrix(split.train, now=split.test_time, half_life_days=split.half_life_days)
        for kind in args.kinds.split(","):
            metrics = score(factorisation.DEFAULTS[kind], data, prepared, args.k)
            print(f"test {split.description} {kind} {factorisation.DEFAULTS[kind]}: {json.dumps(metrics)}")
        return
    prepared = validation_prepared(
        events, split_date=args.split_date, split=args.split, validation_days=args.validation_days, seed=args.seed
    )
    split = prepared.split
    data = interaction_matrix(split.train, now=split.test_time, half_life_days=split.half_life_days)
    print(f"validation {split.description}: {len(prepared.truth)} shoppers, matrix {data.matrix.shape}")
    if args.fold_in:
        for kind in args.kinds.split(","):
            print(kind, json.dumps(fold_in_compare(factorisation.DEFAULTS[kind], data, prepared, args.k)))
        return
    results = []
    for kind in args.kinds.split(","):
        grid = (args.grid or GRIDS)[kind]
        base = factorisation.DEFAULTS[kind]
        for values in itertools.product(*grid.values()):
            changes = dict(zip(grid, values, strict=True))
            for iterations in args.iterations or [base.iterations]:
                params = factorisation.FactorParams(**{**base.as_dict(), **changes, "iterations": iterations})
                started = time.monotonic()
                metrics = score(params, data, prepared, args.k)
                row = {
                    "kind": kind,
                    **changes,
                    "iterations": iterations,
                    "seconds": round(time.monotonic() - started, 1),
                }
                row.update(metrics)
                results.append(row)
                print(json.dumps(row), flush=True)
    for kind in args.kinds.split(","):
        rows = [row for row in results if row["kind"] == kind]
        print("best", kind, "by ndcg:", max(rows, key=lambda row: row["ndcg"]))
        print("best", kind, "by precision:", max(rows, key=lambda row: row["precision"]))


if __name__ == "__main__":
    main()
