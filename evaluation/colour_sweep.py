"""Choosing the colour weight of similar items offline: the served tiers simulated in numpy.

Exact search over the cached real vectors (benchmarks/vector_search.py embeds and caches them), the
same tiers and colour re-ranking as recommendations.selectors._similar_ranked, one line per
(pool, weight): shares of the 5 items with the query's articleType, baseColour, gender and usage,
and their mean cosine similarity; first the expected shares of 5 random products of the same type.
With `image`, the catalogue's colour names are ignored, so only the colours measured from the
images count (a catalogue without colour attributes).

    .venv/bin/python -m evaluation.colour_sweep fashion-sample names 0,0.02,0.05,0.1,0.2,1 20
    .venv/bin/python -m evaluation.colour_sweep fashion-extra image 0.1 20
"""

from __future__ import annotations

import csv
import sys

import numpy as np
from PIL import Image

from benchmarks.common import BASE_DIR, DATA_DIR
from benchmarks.vector_search import embed_files, image_files
from recommendations.colours import colour_agreement, image_colour_lab

K = 5


def load(name: str):
    files = image_files(name)
    vectors = embed_files(files, name)
    with (DATA_DIR / name / "styles.csv").open(encoding="utf-8", newline="") as file:
        rows = {int(row["id"]): row for row in csv.DictReader(file)}
    cache = BASE_DIR / "var" / "bench-cache" / f"{name}-colour-lab.npy"
    if cache.exists():
        lab = np.load(cache)
    else:
        lab = np.array([image_colour_lab(Image.open(path)) for path in files])
        np.save(cache, lab)
    return vectors, [rows[int(path.stem)] for path in files], lab


def main(name: str, colours: str, weights: list[float], pools: list[int]) -> None:
    vectors, rows, lab = load(name)
    n = len(rows)
    column = {key: np.array([row[key] for row in rows]) for key in ("articleType", "subCategory", "gender", "usage")}
    true_colour = np.array([row["baseColour"] for row in rows])
    names = [row["baseColour"] if colours == "names" else "" for row in rows]
    keys = {"type": column["articleType"], "colour": true_colour, "gender": column["gender"], "usage": column["usage"]}
    hits = dict.fromkeys(keys, 0.0)
    places = 0
    for q in range(n):
        same = np.flatnonzero(column["articleType"] == column["articleType"][q])
        same = same[same != q]
        if len(same):
            take = min(K, len(same))
            places += take
            for key, values in keys.items():
                hits[key] += take * float(np.mean(values[same] == values[q]))
    print(name, "5 random of the same type", {key: round(value / places, 3) for key, value in hits.items()})
    sims = vectors @ vectors.T
    for pool in pools:
        for weight in weights:
            hits = dict.fromkeys(keys, 0.0)
            cosine = 0.0
            shown = 0
            for q in range(n):
                tiers = []
                gender = column["gender"][q]
                if gender and gender != "Unisex":
                    tiers.append(
                        (column["articleType"] == column["articleType"][q])
                        & ((column["gender"] == gender) | (column["gender"] == "Unisex"))
                    )
                tiers += [
                    column["articleType"] == column["articleType"][q],
                    column["subCategory"] == column["subCategory"][q],
                ]
                tiers.append(np.ones(n, bool))
                found: list[int] = []
                for mask in tiers:
                    mask = mask.copy()
                    mask[q] = False
                    mask[found] = False
                    candidates = np.flatnonzero(mask)
                    if not len(candidates):
                        continue
                    top = candidates[np.argsort(-sims[q, candidates])[: max(pool, K - len(found))]]
                    if weight:
                        blended = [
                            sims[q, c] + weight * colour_agreement(names[q], tuple(lab[q]), names[c], tuple(lab[c]))
                            for c in top
                        ]
                        top = top[np.argsort(-np.asarray(blended), kind="stable")]
                    found += list(top[: K - len(found)])
                    if len(found) >= K:
                        break
                for c in found:
                    shown += 1
                    cosine += sims[q, c]
                    for key, values in keys.items():
                        hits[key] += values[c] == values[q]
            shares = {key: round(value / shown, 3) for key, value in hits.items()}
            print(
                name,
                colours,
                "pool",
                pool,
                "weight",
                weight,
                shares,
                "mean cosine",
                round(cosine / shown, 3),
                flush=True,
            )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], [float(x) for x in sys.argv[3].split(",")], [int(x) for x in sys.argv[4].split(",")])
