"""The served blend's weights (recommendations/blend_weights.json), chosen across real histories.

The shop serves one set of weights whatever its history looks like, so they are chosen on several
histories at once: each history's validation split is carved from its training period only
(`interactions.validation_split`: the last 4 weeks before a date split, a stratified 75/25 split of a
stratified split's training events), the served sources are trained on the validation's training
part, and a coordinate ascent maximises the geometric mean over the histories of the blend's NDCG@k
divided by popularity's on the same validation shoppers: the ratio the project is judged by, each
history counting alike however large its figures.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evaluation.common import EvaluationError
from evaluation.interactions import (
    DEFAULT_K,
    Split,
    _top_excluding,
    history_from_files,
    ndcg_at_k,
    prepare,
    served_sources,
    split_make,
    validation_split,
)
from recommendations.collaborative import popular_products
from recommendations.hybrid import POOL_EXTRA, TYPE_CAP, WEIGHTS_FILE, blended_score, coordinate_ascent

RATIO_FLOOR = 1e-4  # an NDCG of 0 on a validation split counts as this (the logarithm needs > 0)
# Sources this command cannot score from the files, which keep the weight set in the file:
# similar_items (new products, shop-only) and content_profile (needs image vectors, which the
# files do not have; measured by evaluate_recommendations on H&M, whose import embeds the photos).
UNTUNED = ("similar_items", "content_profile")


@dataclass
class TuningRun:
    name: str
    split: Split
    categories: Mapping[int, int]
    k: int


def served_weights_tune(
    runs: Sequence[TuningRun], *, method: str = "rrf", type_cap: float = TYPE_CAP
) -> dict[str, Any]:
    """The served sources' weights maximising the geometric mean of (blend / popularity) NDCG@k over
    the runs' validation splits; `method` and `type_cap` as hybrid.blend's (to measure the others).
    Returns {"weights", "objective", "histories": [...], "method", "type_cap"}."""
    groups = []
    sources: set[str] = set()
    for run in runs:
        inner = prepare(validation_split(run.split))
        if not inner.truth:
            raise EvaluationError(f"{run.name}: the validation split ({inner.split.description}) has no shopper.")
        rankers = served_sources(inner, categories=run.categories)
        sources.update(rankers)
        popular = popular_products(inner.split.train)
        lists, options, baseline = {}, {}, {}
        for shopper in inner.truth:
            history = inner.history.get(shopper, [])
            banned = set(inner.bought_before.get(shopper, Counter())) | set(history)
            pool = run.k + POOL_EXTRA
            lists[shopper] = {name: ranker(shopper, history, banned, pool, False) for name, ranker in rankers.items()}
            options[shopper] = {"exclude": banned, "type_of": run.categories or None, "type_cap": type_cap}
            baseline[shopper] = _top_excluding(popular, banned, run.k)
        popularity = sum(ndcg_at_k(baseline[s], inner.truth[s], run.k) for s in inner.truth) / len(inner.truth)
        groups.append((run, inner, lists, options, popularity))

    def score(group, weights: Mapping[str, float]) -> float:
        run, inner, lists, options, _ = group
        return blended_score(
            lists, inner.truth, weights, k=run.k, score=ndcg_at_k, method=method, blend_options=options
        )

    def objective(weights: Mapping[str, float]) -> float:
        logs = [math.log(max(score(group, weights), RATIO_FLOOR) / max(group[4], RATIO_FLOOR)) for group in groups]
        return sum(logs) / len(logs)

    weights, best = coordinate_ascent(sorted(sources), objective)
    histories = [
        {
            "name": run.name,
            "split": run.split.description,
            "validation": inner.split.description,
            "shoppers": len(inner.truth),
            "k": run.k,
            "ndcg": round(score(group, weights), 4),
            "popularity_ndcg": round(popularity, 4),
        }
        for group in groups
        for run, inner, _, _, popularity in [group]
    ]
    return {
        "weights": weights,
        "objective": round(math.exp(best), 4),
        "histories": histories,
        "method": method,
        "type_cap": type_cap,
    }


def tuning_run(spec: str) -> TuningRun:
    """LAYOUT:PATH:date:YYYY-MM-DD[:K] or LAYOUT:PATH:stratified:SHARE[:K], read from the files."""
    parts = spec.split(":")
    if len(parts) not in (4, 5) or parts[2] not in ("date", "stratified"):
        raise EvaluationError(
            "--history must look like LAYOUT:PATH:date:YYYY-MM-DD[:K] or LAYOUT:PATH:stratified:SHARE[:K], "
            f"got {spec!r}."
        )
    layout, path, kind, value = parts[:4]
    try:
        k = int(parts[4]) if len(parts) == 5 else DEFAULT_K
    except ValueError:
        raise EvaluationError(f"the list length in {spec!r} must be a whole number.") from None
    if k < 1:
        raise EvaluationError(f"the list length in {spec!r} must be at least 1.")
    if not Path(path).exists():
        raise EvaluationError(f"{path} does not exist.")
    from events.imports import InteractionFileError

    try:
        events, categories = history_from_files(path, layout)
    except InteractionFileError as exc:
        raise EvaluationError(str(exc)) from None
    if not events:
        raise EvaluationError(f"{path} holds no events.")
    if kind == "date":
        split = split_make(events, split_date=value, split=None, seed=42)
    else:
        split = split_make(events, split_date=None, split=f"stratified:{value}", seed=42)
    return TuningRun(name=layout, split=split, categories=categories, k=k)


def weights_file_write(result: Mapping[str, Any], *, output: Path | str = WEIGHTS_FILE, command: str = "") -> None:
    """The served weights file: the tuned weights, the untuned shop-only sources kept as they were."""
    output = Path(output)
    previous = json.loads(output.read_text(encoding="utf-8")).get("weights", {}) if output.exists() else {}
    weights = {**result["weights"], **{name: previous[name] for name in UNTUNED if name in previous}}
    body = {
        "about": (
            "Served weights of recommendations.hybrid.blend by source name, chosen by tune_blend_weights "
            "on validation splits carved from each history's training period (docs/evaluation.md). "
            f"{', '.join(UNTUNED)} cannot be scored from the files and keep their set weights. "
            "A source missing here is not served."
        ),
        "weights": dict(sorted(weights.items(), key=lambda pair: (-pair[1], pair[0]))),
        "tuning": {"command": command, "objective": result["objective"], "histories": result["histories"]},
    }
    output.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
